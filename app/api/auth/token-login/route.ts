// Exchanges a viewer API token for a console session (wall screens, kiosks). A POST from this
// console's own /token-login page (Origin checked): a token in a GET URL would land in server and
// proxy logs and in the browser's history. Only viewer tokens open a session: an operator's or
// admin's browser logs in with a password, so a leaked kiosk link can change nothing.
import { checkOrigin, errorResponse, readJson, SMALL_BODY_LIMIT } from '@/lib/api/handler';
import { sessionCookieHeader } from '@/lib/api/session-cookie';
import { audit } from '@/lib/auth/audit';
import { clientAddress, noteTokenLoginFailure, tokenLoginRefusal } from '@/lib/auth/login-limit';
import { safeNextPath } from '@/lib/auth/safe-next';
import { startSession } from '@/lib/auth/sessions';
import { principalForToken } from '@/lib/auth/tokens';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    checkOrigin(req);
    const body = (await readJson(req, SMALL_BODY_LIMIT)) as { token?: unknown; next?: unknown };
    if (typeof body.token !== 'string' || !body.token) throw new EngineError('invalid', 'Give the viewer token: {"token": "…"}.');
    const address = clientAddress(req.headers);
    const refusal = tokenLoginRefusal(address); // failures count with the address's password log-ins
    if (refusal) throw new EngineError('too_many', refusal);
    const p = await principalForToken(body.token.slice(0, 512), { fresh: true });
    if (!p) {
      noteTokenLoginFailure(address);
      await audit('(token)', 'login', 'error', { name: 'token' }, `unknown or revoked token from ${address}`);
      throw new EngineError('unauthorized', 'This token is unknown or revoked: ask an admin for a new one.');
    }
    if (p.role !== 'viewer') {
      await audit(p.name, 'login', 'error', { id: p.tokenId, name: p.name }, `refused a ${p.role} token (only viewer tokens open a session) from ${address}`);
      throw new EngineError('forbidden', `Only a viewer token opens a console session (wall screens); this one is ${p.role}: use it with the CLI or API, and log in with a user name and password in the browser.`);
    }
    const s = await startSession(p.name, p.role, undefined, p.tokenId);
    await audit(p.name, 'login', 'ok', { id: p.tokenId, name: p.name }, `token log-in from ${address}`);
    const next = safeNextPath(typeof body.next === 'string' ? body.next : null);
    return Response.json({ ok: true, next }, { headers: { 'set-cookie': sessionCookieHeader(s.id, req) } });
  } catch (e) {
    return errorResponse(e);
  }
}

export function GET() {
  return Response.json(
    { error: 'Token log-in is a POST from the console now (a token in a URL lands in logs): open /token-login#token=VIEWER_TOKEN&next=/wall instead.', code: 'gone' },
    { status: 410 },
  );
}
