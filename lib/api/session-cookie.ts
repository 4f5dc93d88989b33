// The console's session cookie: httpOnly, same-site lax, lives as long as the session; over HTTPS
// (directly, or behind a TLS proxy named by INSTACLONE_TRUST_PROXY=1) Secure with the __Host- prefix.
import { cookies } from 'next/headers';
import { SECURE_SESSION_COOKIE, SESSION_COOKIE, SESSION_HOURS } from '../auth/sessions';
import { config } from '../config';

export function servedOverHttps(req: Request): boolean {
  if (new URL(req.url).protocol === 'https:') return true;
  return config().web.trustProxy && req.headers.get('x-forwarded-proto')?.split(',')[0].trim() === 'https';
}

export function sessionCookie(id: string, req: Request) {
  const secure = servedOverHttps(req);
  return {
    name: secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE,
    value: id,
    options: { httpOnly: true, sameSite: 'lax' as const, path: '/', secure, maxAge: SESSION_HOURS * 3600 },
  };
}

export async function setSessionCookie(id: string, req: Request): Promise<void> {
  const c = sessionCookie(id, req);
  (await cookies()).set(c.name, c.value, c.options);
}
