// Server-sent events: every engine state change (vm, template, task), so the console updates live.
// Hand-written: a ReadableStream of "data:" lines is all SSE needs; the browser's EventSource reconnects.
import { engine } from '@/lib/api/engine';
import { authenticateStream, sseResponse } from '@/lib/api/stream-auth';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const auth = await authenticateStream(req); // capped per user; ends at logout, expiry, revocation
  if ('error' in auth) return auth.error;
  const events = engine().events;
  return sseResponse(
    req,
    auth.slot,
    (send) => {
      events.on('event', send);
      send({ type: 'hello', at: Date.now() });
      return () => events.off('event', send);
    },
    { ping: () => ({ type: 'ping', at: Date.now() }) },
  );
}
