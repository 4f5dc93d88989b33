// Exchanges an API token for a console session: kiosks open /wall?token=… (a viewer token).
import { cookies } from 'next/headers';
import { principalForToken } from '@/lib/auth/tokens';
import { SESSION_COOKIE, SESSION_HOURS, startSession } from '@/lib/auth/sessions';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const url = new URL(req.url);
  const next = url.searchParams.get('next') ?? '/';
  const safeNext = next.startsWith('/') && !next.startsWith('//') ? next : '/';
  const p = await principalForToken(url.searchParams.get('token') ?? '');
  if (!p) return Response.json({ error: 'This token is unknown or revoked: ask an admin for a new one.' }, { status: 401 });
  const s = await startSession(p.name, p.role, undefined, p.tokenId);
  (await cookies()).set(SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_HOURS * 3600 });
  return new Response(null, { status: 303, headers: { location: safeNext } });
}
