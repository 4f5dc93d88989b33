// The first admin's one-time setup link: sets the password and logs in.
import { cookies } from 'next/headers';
import { errorResponse, readJson } from '@/lib/api/handler';
import { completeSetup, SESSION_COOKIE, SESSION_HOURS } from '@/lib/auth/sessions';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  try {
    const body = (await readJson(req)) as { token?: unknown; password?: unknown };
    if (typeof body.token !== 'string' || typeof body.password !== 'string') {
      throw new EngineError('invalid', 'Give the setup token and a new password.');
    }
    const s = await completeSetup(body.token, body.password);
    (await cookies()).set(SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_HOURS * 3600 });
    return Response.json({ ok: true });
  } catch (e) {
    return errorResponse(e);
  }
}
