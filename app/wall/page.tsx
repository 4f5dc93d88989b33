import { redirect } from 'next/navigation';
import { currentPrincipal } from '@/components/auth/session';
import { Wall } from '@/components/wall/wall';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Wall · Instaclone' };

export default async function WallPage() {
  if (!(await currentPrincipal())) redirect('/login?next=/wall');
  return <Wall />;
}
