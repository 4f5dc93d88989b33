import { errorResponse, readJson } from '@/lib/api/handler';
import { setSessionCookie } from '@/lib/api/session-cookie';
import { login } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    const body = (await readJson(req)) as { username?: unknown; password?: unknown };
    if (typeof body.username !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give a user name and a password.');
    }
    const s = await login(body.username, body.password);
    await setSessionCookie(s.id);
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
