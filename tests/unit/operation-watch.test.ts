// The tab-wide operation watcher (lib/client/operation-watch.ts): each operation the tab started
// ends in exactly one announcement, however often it is registered, with the starter's phrase on
// success and the engine's sentence on failure; a console that stops answering is said, not hidden.
// The operation rows come from a stubbed fetch (GET /api/v1/operations/ID); timers are faked.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { onOperationEnd, watchOperation, type OperationEnd } from '@/lib/client/operation-watch';

const rows = new Map<string, Record<string, unknown>>();
let down = false;
let ends: OperationEnd[] = [];
let off = () => {};

beforeEach(() => {
  vi.useFakeTimers();
  rows.clear();
  down = false;
  ends = [];
  off = onOperationEnd((e) => ends.push(e));
  vi.stubGlobal('fetch', async (url: string) => {
    if (down) throw new TypeError('fetch failed');
    const id = decodeURIComponent(url.split('/').pop()!);
    const row = rows.get(id);
    return new Response(JSON.stringify(row ?? { error: 'no such operation' }), { status: row ? 200 : 404 });
  });
});
afterEach(() => {
  off();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const note = { target: 'web', href: '/templates/web', text: (r: { n: number }) => `${r.n} children of web ready` };

describe('the operation watcher', () => {
  it('announces a success once, in the starter’s words, however often the operation is registered', async () => {
    rows.set('task_a', { id: 'task_a', kind: 'fork', state: 'running', progress: 0.3 });
    watchOperation({ operationId: 'task_a' }, note);
    watchOperation({ operationId: 'task_a' }, note); // a second registration (a re-render) adds nothing
    await vi.advanceTimersByTimeAsync(2_100);
    expect(ends).toEqual([]);
    rows.set('task_a', { id: 'task_a', kind: 'fork', state: 'succeeded', progress: 1, result: { n: 3 } });
    await vi.advanceTimersByTimeAsync(2_100);
    expect(ends).toEqual([{ id: 'task_a', tone: 'ok', target: 'web', href: '/templates/web', text: '3 children of web ready' }]);
    watchOperation({ operationId: 'task_a' }, note); // ended and announced: never again
    await vi.advanceTimersByTimeAsync(4_200);
    expect(ends).toHaveLength(1);
  });

  it('a failure is the engine’s sentence; an unexpected result is still an end', async () => {
    rows.set('task_b', { id: 'task_b', kind: 'prepare', state: 'failed', error: 'The guest agent did not answer within 120 s; check the image.' });
    rows.set('task_c', { id: 'task_c', kind: 'fork', state: 'succeeded', result: null });
    watchOperation({ operationId: 'task_b' }, note);
    watchOperation({ operationId: 'task_c' }, note);
    await vi.advanceTimersByTimeAsync(100);
    expect(ends).toContainEqual(expect.objectContaining({ id: 'task_b', tone: 'error', text: 'The guest agent did not answer within 120 s; check the image.' }));
    expect(ends).toContainEqual(expect.objectContaining({ id: 'task_c', tone: 'ok', text: 'done' }));
  });

  it('a console that stops answering is said after a few tries, not followed forever in silence', async () => {
    rows.set('task_d', { id: 'task_d', kind: 'fork', state: 'running' });
    down = true;
    watchOperation({ operationId: 'task_d' }, note);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(ends).toEqual([]); // a restart of a few seconds is waited out
    await vi.advanceTimersByTimeAsync(20_000);
    expect(ends).toEqual([expect.objectContaining({ id: 'task_d', tone: 'error', text: expect.stringMatching(/^lost track of operation task_d/) })]);
  });

  it('a console back within the tries: the end still comes', async () => {
    rows.set('task_e', { id: 'task_e', kind: 'fork', state: 'running' });
    down = true;
    watchOperation({ operationId: 'task_e' }, note);
    await vi.advanceTimersByTimeAsync(6_000);
    down = false;
    rows.set('task_e', { id: 'task_e', kind: 'fork', state: 'succeeded', result: { n: 1 } });
    await vi.advanceTimersByTimeAsync(2_100);
    expect(ends).toEqual([expect.objectContaining({ id: 'task_e', tone: 'ok', text: '1 children of web ready' })]);
  });
});
