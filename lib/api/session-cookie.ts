// The console's session cookie: httpOnly, same-site lax, lives as long as the session.
import { cookies } from 'next/headers';
import { SESSION_COOKIE, SESSION_HOURS } from '../auth/sessions';

export async function setSessionCookie(id: string): Promise<void> {
  (await cookies()).set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_HOURS * 3600 });
}
