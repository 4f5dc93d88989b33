// Server-sent events: every engine state change (vm, template, task), so the console updates live.
// Hand-written: a ReadableStream of "data:" lines is all SSE needs; the browser's EventSource reconnects.
import { engine } from '@/lib/api/engine';
import { authenticateStream } from '@/lib/api/stream-auth';
import { needsRedaction, redactEngineEvent } from '@/lib/auth/redact';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const auth = await authenticateStream(req); // capped per user; ends at logout, expiry, revocation
  if ('error' in auth) return auth.error;
  const { slot } = auth;
  const redact = needsRedaction(auth.principal); // viewers: no warm-up commands or serial lines
  const events = engine().events;
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const stream = new ReadableStream({
    start(controller) {
      const send = (ev: { type: string; [k: string]: unknown }) => {
        try {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(redact ? redactEngineEvent(ev) : ev)}\n\n`));
        } catch {
          cleanup();
        }
      };
      // A comment every 15 s keeps proxies from closing an idle stream.
      const ping = setInterval(() => send({ type: 'ping', at: Date.now() }), 15_000);
      events.on('event', send);
      cleanup = () => {
        clearInterval(ping);
        events.off('event', send);
        slot.release();
      };
      slot.onEnd(() => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      });
      req.signal.addEventListener('abort', () => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      });
      send({ type: 'hello', at: Date.now() });
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' },
  });
}
