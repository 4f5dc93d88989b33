import { checkOrigin, errorResponse, readJson, SMALL_BODY_LIMIT } from '@/lib/api/handler';
import { setSessionCookie } from '@/lib/api/session-cookie';
import { audit } from '@/lib/auth/audit';
import { clearLoginFailures, clientAddress, loginRefusal, noteLoginFailure } from '@/lib/auth/login-limit';
import { login } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    checkOrigin(req); // login CSRF: only our own login page may sign a browser in
    const body = (await readJson(req, SMALL_BODY_LIMIT)) as { username?: unknown; password?: unknown };
    if (typeof body.username !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give a user name and a password.');
    }
    const username = body.username.slice(0, 64);
    const address = clientAddress(req.headers);
    const refusal = loginRefusal(username, address);
    if (refusal) {
      await audit(username, 'login', 'error', { name: username }, `refused (rate limit) from ${address}`);
      throw new EngineError('too_many', refusal);
    }
    let s;
    try {
      s = await login(username, body.password);
    } catch (e) {
      noteLoginFailure(username, address);
      await audit(username, 'login', 'error', { name: username }, `wrong user name or password from ${address}`);
      throw e;
    }
    clearLoginFailures(username);
    await audit(username, 'login', 'ok', { name: username }, `from ${address}`);
    await setSessionCookie(s.id, req);
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
