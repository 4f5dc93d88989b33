import { cookies } from 'next/headers';
import { errorResponse, readJson } from '@/lib/api/handler';
import { login, SESSION_COOKIE, SESSION_HOURS } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    const body = (await readJson(req)) as { username?: unknown; password?: unknown };
    if (typeof body.username !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give a user name and a password.');
    }
    const s = await login(body.username, body.password);
    (await cookies()).set(SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_HOURS * 3600 });
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
