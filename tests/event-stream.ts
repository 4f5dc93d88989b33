// The console's event stream (/api/events, the route the browser's EventSource reads) opened in
// process with a session cookie, for tests that follow an operation by its id: every `data:` message
// is collected, parsed as the console parses it (lib/engine/events.ts); `until` waits for one that
// matches. A message the console's parser would drop is a broken contract: `until` throws on it.
import { SESSION_COOKIE } from '../lib/auth/sessions';
import { parseStreamEvent, type StreamEvent, type TaskEvent } from '../lib/engine/events';

const isTask = (e: StreamEvent): e is TaskEvent => e.type === 'task';

export async function openEventStream(sessionId: string) {
  const { GET } = await import('../app/api/events/route');
  const abort = new AbortController();
  const res = await GET(new Request('http://console.test/api/events', { headers: { host: 'console.test', cookie: `${SESSION_COOKIE}=${sessionId}` }, signal: abort.signal }));
  if (res.status !== 200 || !res.body) throw new Error(`the event stream answered ${res.status}: ${await res.text()}`);
  const events: StreamEvent[] = [];
  const invalid: string[] = [];
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
        for (const line of block.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          const ev = parseStreamEvent(line.slice(6));
          if (ev) events.push(ev);
          else invalid.push(line.slice(6));
        }
        for (const w of waiters) w();
      }
    }
  })();
  const until = async <E extends StreamEvent>(match: (e: StreamEvent) => e is E, ms = 60_000): Promise<E> => {
    const t0 = Date.now();
    for (;;) {
      if (invalid.length) throw new Error(`the stream sent what the console cannot parse: ${invalid[0]}`);
      const hit = events.find(match);
      if (hit) return hit;
      if (Date.now() - t0 > ms) throw new Error(`no matching event within ${ms} ms; saw ${events.length}: ${JSON.stringify(events.slice(-5))}`);
      await new Promise<void>((r) => {
        const w = () => (waiters.delete(w), r());
        waiters.add(w);
        setTimeout(w, 500);
      });
    }
  };
  return {
    events,
    /** what the stream sent that the console's parser drops (should stay empty) */
    invalid,
    /** the first event that matches, waiting for it (up to `ms`) */
    until,
    /** the task event that ends operation `id` */
    ended: (id: string, ms?: number) => until((e): e is TaskEvent => isTask(e) && e.id === id && e.state !== 'running', ms),
    /** this operation's task events, in order */
    of: (id: string) => events.filter((e): e is TaskEvent => isTask(e) && e.id === id),
    close: () => abort.abort(),
  };
}
