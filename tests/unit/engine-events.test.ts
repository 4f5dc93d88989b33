// The one closed event type (lib/engine/events.ts): what the engine emits parses on the console's
// side, anything else is dropped rather than crashed on, every kind has its query-key entry, and a
// task's step events build the same log the row holds (the wizard's task log follows events).
import { describe, expect, it } from 'vitest';
import { engineEventSchema, parseSerialChunk, parseStreamEvent, taskLogLine, type EngineEvent } from '@/lib/engine/events';
import { eventTouches, keysOfEvent, touches } from '@/lib/client/query-keys';
import { applyEvent, fromRow, mergeLog } from '@/lib/client/operation';
import { redactEngineEvent } from '@/lib/auth/redact';

const samples: EngineEvent[] = [
  { type: 'vm', id: 'vm_1', name: 'web-1', state: 'running', pid: 42, templateId: 'tpl_1', persistent: false },
  { type: 'vm', id: 'vm_1', state: 'removed' },
  { type: 'vm', id: 'vm_2', name: 'desk-1', state: 'running', pool: 'desk', claimedBy: 'alice' },
  { type: 'template', id: 'tpl_1', name: 'web', state: 'preparing' },
  { type: 'template', id: 'tpl_1', state: 'removed' },
  { type: 'task', id: 'task_1', kind: 'fork', state: 'running', progress: 0, targetId: 'tpl_1', targetName: 'web' },
  { type: 'task', id: 'task_1', kind: 'fork', state: 'running', progress: 0.5, step: 'fork', message: 'web-1 ready', at: '2026-12-02T07:00:00.000Z' },
  { type: 'task', id: 'task_1', kind: 'fork', state: 'succeeded', progress: 1, result: { children: [] } },
  { type: 'task', id: 'task_2', kind: 'prepare', state: 'failed', error: 'The guest agent did not answer.' },
  { type: 'pool', id: 'pool_1', name: 'desk', state: 'active' },
  { type: 'pool', id: 'pool_1', name: 'desk', claimed: 'vm_2', claimMs: 12 },
  { type: 'pool', id: 'pool_1', name: 'desk', refilling: 2 },
  { type: 'slot', id: 'slot_1', templateId: 'tpl_1', state: 'registered' },
];

describe('the engine event union', () => {
  it('parses every kind the engine emits, and the stream frames, unchanged', () => {
    for (const ev of samples) expect(parseStreamEvent(JSON.stringify(ev))).toEqual(ev);
    expect(parseStreamEvent(JSON.stringify({ type: 'hello', at: 1 }))).toEqual({ type: 'hello', at: 1 });
    expect(parseStreamEvent(JSON.stringify({ type: 'ping', at: 2 }))).toEqual({ type: 'ping', at: 2 });
  });

  it('drops what it does not know instead of crashing: a new kind, a bad state, a missing field, junk', () => {
    expect(parseStreamEvent(JSON.stringify({ type: 'hypervisor', id: 'x' }))).toBeNull();
    expect(parseStreamEvent(JSON.stringify({ type: 'vm', id: 'vm_1', state: 'exploded' }))).toBeNull();
    expect(parseStreamEvent(JSON.stringify({ type: 'task', id: 'task_1', state: 'running' }))).toBeNull(); // no kind
    expect(parseStreamEvent(JSON.stringify({ type: 'pool', id: 'p' }))).toBeNull(); // no name
    expect(parseStreamEvent('{"type":')).toBeNull();
    expect(parseStreamEvent('null')).toBeNull();
    expect(parseStreamEvent('[]')).toBeNull();
  });

  it('a viewer’s redacted event still parses', () => {
    const ev: EngineEvent = { type: 'task', id: 't', kind: 'prepare', state: 'running', step: 'warmup', message: 'warm-up: httpd -p 80 --token=secret', at: '2026-12-02T07:00:00.000Z' };
    const red = parseStreamEvent(JSON.stringify(redactEngineEvent(ev)));
    expect(red).toMatchObject({ type: 'task', step: 'warmup' });
    expect(red && 'message' in red ? red.message : '').not.toContain('secret');
  });

  it('every kind has its query-key entry; a task that ends touches what it made', () => {
    // the map's type has one key per kind (a missing one is a compile error); the keys match at run time too
    expect(Object.keys(eventTouches).sort()).toEqual(engineEventSchema.options.map((o) => o.shape.type.value).sort());
    expect(keysOfEvent(samples[0])).toEqual(touches.vm);
    expect(keysOfEvent(samples[5])).toEqual(touches.task);
    expect(keysOfEvent(samples[7])).toEqual(touches.taskEnded);
    expect(keysOfEvent(samples[12])).toEqual(touches.slot);
    // @ts-expect-error a map without an entry for every kind (here: slot) does not compile
    const missing: typeof eventTouches = { vm: () => 'vm', template: () => 'template', task: () => 'task', pool: () => 'pool' };
    expect(missing).toBeDefined();
  });

  it('the serial stream: output or reset, anything else dropped', () => {
    expect(parseSerialChunk('{"data":"login: "}')).toEqual({ data: 'login: ' });
    expect(parseSerialChunk('{"reset":true}')).toEqual({ reset: true });
    expect(parseSerialChunk('{"reset":false}')).toBeNull();
    expect(parseSerialChunk('{"data":5}')).toBeNull();
    expect(parseSerialChunk('nope')).toBeNull();
  });
});

describe('an operation’s log follows its step events', () => {
  const t1 = '2026-12-02T07:00:01.000Z';
  const t2 = '2026-12-02T07:00:02.000Z';
  const t3 = '2026-12-02T07:00:03.000Z';
  const step = (at: string, s: string, message?: string): EngineEvent => ({ type: 'task', id: 'op', kind: 'prepare', state: 'running', progress: 0.1, step: s, message, at });

  it('each step event adds the line the engine adds to the row', () => {
    let op = fromRow(undefined, { id: 'op', kind: 'prepare', state: 'running', progress: 0, log: '' });
    op = applyEvent(op, step(t1, 'boot', 'launching QEMU'), 'op')!;
    op = applyEvent(op, step(t2, 'warmup'), 'op')!;
    op = applyEvent(op, { type: 'vm', id: 'vm_1', state: 'running' }, 'op')!; // not this operation's
    op = applyEvent(op, { ...step(t3, 'freeze'), id: 'other' }, 'op')!;
    expect(op.log).toBe(taskLogLine(t1, 'boot', 'launching QEMU') + taskLogLine(t2, 'warmup'));
    expect(op).toMatchObject({ step: 'warmup', message: undefined });
  });

  it('a row read before the latest events keeps their lines; one read after them has them once', () => {
    const rowAt1 = taskLogLine(t1, 'boot', 'launching QEMU');
    const known = rowAt1 + taskLogLine(t2, 'warmup') + taskLogLine(t3, 'freeze');
    expect(mergeLog(rowAt1, known)).toBe(known);
    expect(mergeLog(known, known)).toBe(known);
    expect(mergeLog(known, rowAt1)).toBe(known);
    expect(mergeLog('', known)).toBe(known);
    expect(mergeLog(rowAt1, undefined)).toBe(rowAt1);
  });

  it('the ended row’s log is taken after the end event (its last line comes with the end); a running row changes nothing', () => {
    let op = applyEvent(undefined, step(t1, 'boot'), 'op')!;
    op = applyEvent(op, { type: 'task', id: 'op', kind: 'prepare', state: 'failed', error: 'no agent' }, 'op')!;
    expect(fromRow(op, { id: 'op', state: 'running', progress: 0.5, log: '' })).toBe(op);
    const full = taskLogLine(t1, 'boot') + taskLogLine(t2, 'failed', 'no agent');
    expect(fromRow(op, { id: 'op', state: 'failed', error: 'no agent', log: full })).toMatchObject({ state: 'failed', error: 'no agent', log: full });
  });
});
