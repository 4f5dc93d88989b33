import { cookies } from 'next/headers';
import { endSession, SECURE_SESSION_COOKIE, SESSION_COOKIE, sessionIdFrom } from '@/lib/auth/sessions';

export const dynamic = 'force-dynamic';

export async function POST() {
  const jar = await cookies();
  const id = sessionIdFrom((n) => jar.get(n)?.value);
  if (id) await endSession(id);
  jar.delete(SESSION_COOKIE);
  // a __Host- cookie is only replaced by one that is Secure with path=/ as well
  if (jar.get(SECURE_SESSION_COOKIE)) jar.set(SECURE_SESSION_COOKIE, '', { path: '/', secure: true, httpOnly: true, sameSite: 'lax', maxAge: 0 });
  return Response.json({ ok: true });
}
