// Server-sent events: every engine state change (lib/engine/events.ts: vm, template, task, pool, slot),
// so the console updates live. Hand-written: a ReadableStream of "data:" lines is all SSE needs; the
// browser's EventSource reconnects.
import { engine } from '@/lib/api/engine';
import { authenticateStream, sseResponse } from '@/lib/api/stream-auth';
import { needsRedaction, redactEngineEvent } from '@/lib/auth/redact';
import type { EngineEvent, StreamEvent } from '@/lib/engine/events';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const auth = await authenticateStream(req); // capped per user; ends at logout, expiry, revocation
  if ('error' in auth) return auth.error;
  const events = engine().events;
  return sseResponse<StreamEvent>(
    req,
    auth.slot,
    (out) => {
      // viewers: no warm-up commands, their output or serial lines
      const send = needsRedaction(auth.principal) ? (ev: EngineEvent) => out(redactEngineEvent(ev)) : out;
      events.on('event', send);
      out({ type: 'hello', at: Date.now() });
      return () => events.off('event', send);
    },
    { ping: () => ({ type: 'ping', at: Date.now() }) },
  );
}
