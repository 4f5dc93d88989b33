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

/**
 * A server-sent-event response for an admitted stream: `start(send)` begins producing and returns its
 * stop function. The stream ends (and its slot is released once) when the slot ends (log-out, expiry,
 * revocation), the client goes away, or the reader cancels. A comment every 15 s keeps proxies from
 * closing an idle stream.
 */
/** A server-sent event stream of `E` (one JSON value per `data:` line): the events route sends StreamEvent, the serial route SerialChunk. */
export function sseResponse<E>(req: Request, slot: StreamSlot, start: (send: (obj: E) => void) => () => void, opts: { retryMs?: number; ping?: () => E } = {}): Response {
  const encoder = new TextEncoder();
  let end = () => {};
  const stream = new ReadableStream({
    start(controller) {
      let closed = false;
      let stop = () => {};
      const write = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          end();
        }
      };
      const send = (obj: unknown) => write(`data: ${JSON.stringify(obj)}\n\n`);
      const ping = setInterval(() => (opts.ping ? send(opts.ping()) : write(': ping\n\n')), 15_000);
      end = () => {
        if (closed) return;
        closed = true;
        clearInterval(ping);
        stop();
        slot.release();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      };
      slot.onEnd(() => end());
      req.signal.addEventListener('abort', () => end());
      if (opts.retryMs) write(`retry: ${opts.retryMs}\n\n`);
      stop = start(send);
      if (closed) stop(); // ended while starting
    },
    cancel() {
      end();
    },
  });
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' },
  });
}
