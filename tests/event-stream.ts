// The console's event stream (/api/events, the route the browser's EventSource reads) opened in
// process with a session cookie, for tests that follow an operation by its id: every `data:` message
// is collected; `until` waits for one that matches.
import { SESSION_COOKIE } from '../lib/auth/sessions';

export type StreamEvent = { type: string; id?: string; state?: string; progress?: number; step?: string; message?: string; result?: unknown; error?: string; [k: string]: unknown };

export async function openEventStream(sessionId: string) {
  const { GET } = await import('../app/api/events/route');
  const abort = new AbortController();
  const res = await GET(new Request('http://console.test/api/events', { headers: { host: 'console.test', cookie: `${SESSION_COOKIE}=${sessionId}` }, signal: abort.signal }));
  if (res.status !== 200 || !res.body) throw new Error(`the event stream answered ${res.status}: ${await res.text()}`);
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  const reader = res.body.getReader();
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of block.split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as StreamEvent);
        for (const w of waiters) w();
      }
    }
  })();
  return {
    events,
    /** the first event that matches, waiting for it (up to `ms`) */
    async until(match: (e: StreamEvent) => boolean, ms = 60_000): Promise<StreamEvent> {
      const t0 = Date.now();
      for (;;) {
        const hit = events.find(match);
        if (hit) return hit;
        if (Date.now() - t0 > ms) throw new Error(`no matching event within ${ms} ms; saw ${events.length}: ${JSON.stringify(events.slice(-5))}`);
        await new Promise<void>((r) => {
          const w = () => (waiters.delete(w), r());
          waiters.add(w);
          setTimeout(w, 500);
        });
      }
    },
    /** this operation's task events, in order */
    of: (id: string) => events.filter((e) => e.type === 'task' && e.id === id),
    close: () => abort.abort(),
  };
}
