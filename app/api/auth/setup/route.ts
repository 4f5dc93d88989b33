// The first admin's one-time setup link: sets the password and logs in.
import { checkOrigin, errorResponse, readJson, SMALL_BODY_LIMIT } from '@/lib/api/handler';
import { setSessionCookie } from '@/lib/api/session-cookie';
import { audit } from '@/lib/auth/audit';
import { completeSetup } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    checkOrigin(req);
    const body = (await readJson(req, SMALL_BODY_LIMIT)) as { token?: unknown; password?: unknown };
    if (typeof body.token !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give the setup token and a new password.');
    }
    let s;
    try {
      s = await completeSetup(body.token, body.password);
    } catch (e) {
      await audit('anonymous', 'setup', 'error', { name: 'admin' }, (e as Error).message);
      throw e;
    }
    await audit('admin', 'setup', 'ok', { name: 'admin' });
    await setSessionCookie(s.id, req);
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
