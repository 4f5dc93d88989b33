import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';
import { ConsoleShell } from '@/components/layout/console-shell';
import { currentPrincipal } from '@/components/auth/session';

export const dynamic = 'force-dynamic';

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  await cookies();
  const p = await currentPrincipal();
  if (!p) redirect('/login');
  return <ConsoleShell>{children}</ConsoleShell>;
}
