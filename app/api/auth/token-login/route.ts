// Exchanges an API token for a console session: kiosks open /wall?token=… (a viewer token).
import { setSessionCookie } from '@/lib/api/session-cookie';
import { principalForToken } from '@/lib/auth/tokens';
import { safeNextPath } from '@/lib/auth/safe-next';
import { startSession } from '@/lib/auth/sessions';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const url = new URL(req.url);
  const safeNext = safeNextPath(url.searchParams.get('next'));
  const p = await principalForToken(url.searchParams.get('token') ?? '');
  if (!p) return Response.json({ error: 'This token is unknown or revoked: ask an admin for a new one.' }, { status: 401 });
  const s = await startSession(p.name, p.role, undefined, p.tokenId);
  await setSessionCookie(s.id, req);
  return new Response(null, { status: 303, headers: { location: safeNext } });
}
