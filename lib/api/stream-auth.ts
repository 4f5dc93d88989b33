// Authenticates a long-lived stream and admits it (lib/auth/streams.ts): the caller gets the slot to
// end the stream with, or an error Response.
import { principalFrom, type Role } from '../auth';
import { sessionIdFrom } from '../auth/sessions';
import { admitStream, type StreamSlot } from '../auth/streams';
import type { Principal } from '../auth/tokens';
import { hashToken } from '../auth/tokens';
import { authenticate, cookieValue, errorResponse } from './handler';

export async function authenticateStream(req: Request, role: Role = 'viewer', check: () => Promise<unknown> = async () => undefined): Promise<{ slot: StreamSlot; principal: Principal } | { error: Response }> {
  try {
    const principal = await authenticate(req, role);
    await check(); // e.g. the VM exists: before a stream slot is taken
    const sid = sessionIdFrom((n) => cookieValue(req, n));
    const headers = new Headers(req.headers);
    const slot = admitStream(principal.name, sid ? hashToken(sid) : undefined, async () => !!(await principalFrom(headers, sid, { fresh: true })));
    return { slot, principal };
  } catch (e) {
    return { error: errorResponse(e) };
  }
}
