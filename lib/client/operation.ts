// One operation (a long action: prepare, fork, reset of many, import, pool push) as the console
// follows it: the row GET /api/v1/operations/ID answers, brought up to date by the task events that
// carry its id. Pure functions: the hook (use-operation.ts) and the tests share them.
import type { OperationState } from '@/lib/engine/operations';

export interface Followed<T = unknown> {
  id: string;
  kind?: string;
  /** `pending`: nothing read yet */
  state: OperationState | 'pending';
  progress: number;
  /** the last step the engine reported (boot, warmup, freeze, slots, fork, reset …) and its message */
  step?: string;
  message?: string;
  /** what it acts on (a prepare's template, once made): its ids lead to its VMs */
  targetId?: string | null;
  targetName?: string | null;
  log?: string;
  /** ISO time the operation began (from its row) */
  startedAt?: string;
  result?: T;
  error?: string | null;
}

export const ended = (o: Pick<Followed, 'state'> | undefined) => o?.state === 'succeeded' || o?.state === 'failed';

type Raw = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The last "ISO-TIME step: message" line of a task's log (a page opened mid-way has no events yet). */
export function lastStep(log: string | undefined): { step?: string; message?: string } {
  const line = (log ?? '').trim().split('\n').pop() ?? '';
  const m = /^\S+ ([^:\s]+)(?::\s?(.*))?$/.exec(line);
  return m ? { step: m[1], message: m[2] } : {};
}

/** What the operation's row says (GET /api/v1/operations/ID), over what was known; an end is never undone. */
export function fromRow<T>(prev: Followed<T> | undefined, raw: Raw): Followed<T> {
  if (prev && ended(prev)) return prev;
  const state = (str(raw.state) ?? 'running') as Followed['state'];
  const row: Followed<T> = {
    id: String(raw.id),
    kind: str(raw.kind),
    state,
    progress: Math.max(prev?.progress ?? 0, typeof raw.progress === 'number' ? raw.progress : 0),
    targetId: str(raw.targetId) ?? prev?.targetId ?? null,
    targetName: str(raw.targetName) ?? prev?.targetName ?? null,
    log: str(raw.log),
    startedAt: str(raw.startedAt) ?? prev?.startedAt,
    result: raw.result as T | undefined,
    error: str(raw.error) ?? null,
  };
  const fromLog = lastStep(row.log);
  // a live event may be ahead of the row that was read before it
  return { ...row, step: prev?.step ?? fromLog.step, message: prev?.message ?? fromLog.message };
}

/** A task event for this operation (lib/engine/core.ts emits them), applied; other events change nothing. */
export function applyEvent<T>(prev: Followed<T> | undefined, ev: Raw, id: string): Followed<T> | undefined {
  if (ev.type !== 'task' || ev.id !== id) return prev;
  if (prev && ended(prev)) return prev;
  const base: Followed<T> = prev ?? { id, state: 'running', progress: 0 };
  const state = (str(ev.state) ?? base.state) as Followed['state'];
  return {
    ...base,
    kind: str(ev.kind) ?? base.kind,
    state: state === 'pending' ? 'running' : state,
    progress: state === 'succeeded' ? 1 : Math.max(base.progress, typeof ev.progress === 'number' ? ev.progress : 0),
    step: str(ev.step) ?? base.step,
    message: str(ev.message) ?? (str(ev.step) ? undefined : base.message),
    targetId: str(ev.targetId) ?? base.targetId,
    targetName: str(ev.targetName) ?? base.targetName,
    ...(state === 'succeeded' ? { result: ev.result as T } : {}),
    ...(state === 'failed' ? { error: str(ev.error) ?? 'The operation failed.' } : {}),
  };
}
