import { cookies } from 'next/headers';
import { endSession, SESSION_COOKIE } from '@/lib/auth/sessions';

export const dynamic = 'force-dynamic';

export async function POST() {
  const jar = await cookies();
  const id = jar.get(SESSION_COOKIE)?.value;
  if (id) await endSession(id);
  jar.delete(SESSION_COOKIE);
  return Response.json({ ok: true });
}
