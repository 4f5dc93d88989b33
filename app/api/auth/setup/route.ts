// The first admin's one-time setup link: sets the password and logs in.
import { errorResponse, readJson } from '@/lib/api/handler';
import { setSessionCookie } from '@/lib/api/session-cookie';
import { completeSetup } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    const body = (await readJson(req)) as { token?: unknown; password?: unknown };
    if (typeof body.token !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give the setup token and a new password.');
    }
    const s = await completeSetup(body.token, body.password);
    await setSessionCookie(s.id);
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
