// One operation (a long action: prepare, fork, reset of many, import, pool push) as the console
// follows it: the row GET /api/v1/operations/ID answers, brought up to date by the task events that
// carry its id. Pure functions: the hook (use-operation.ts) and the tests share them.
import { taskLogLine, type StreamEvent } from '@/lib/engine/events';
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
  if (prev && ended(prev)) {
    // the ended row has the whole log (a failure's last line is written with the end)
    const log = raw.state === prev.state ? mergeLog(str(raw.log), prev.log) : prev.log;
    return log === prev.log ? prev : { ...prev, log };
  }
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
  // a live event may be ahead of the row that was read before it: its step, and its log lines
  return { ...row, log: mergeLog(row.log, prev?.log), step: prev?.step ?? fromLog.step, message: prev?.message ?? fromLog.message };
}

/** The time an "ISO-TIME step: message" line begins with (ISO times sort as text). */
const lineTime = (line: string) => line.slice(0, line.indexOf(' '));

/** The row's log, then the lines events added after its last line (a row read before they happened). */
export function mergeLog(rowLog: string | undefined, known: string | undefined): string | undefined {
  if (!known) return rowLog;
  if (!rowLog) return known;
  const last = lineTime(rowLog.trimEnd().split('\n').pop() ?? '');
  const newer = known.split('\n').filter((l) => l && lineTime(l) > last);
  return newer.length ? `${rowLog.replace(/\n?$/, '\n')}${newer.join('\n')}\n` : rowLog;
}

/**
 * A task event for this operation (lib/engine/core.ts emits them), applied: its step, progress and
 * log line as they happen, then its end; other events change nothing.
 */
export function applyEvent<T>(prev: Followed<T> | undefined, ev: StreamEvent, id: string): Followed<T> | undefined {
  if (ev.type !== 'task' || ev.id !== id) return prev;
  if (prev && ended(prev)) return prev;
  const base: Followed<T> = prev ?? { id, state: 'running', progress: 0 };
  const { state } = ev;
  return {
    ...base,
    kind: ev.kind,
    state,
    progress: state === 'succeeded' ? 1 : Math.max(base.progress, ev.progress ?? 0),
    step: ev.step ?? base.step,
    message: ev.message ?? (ev.step ? undefined : base.message),
    targetId: ev.targetId ?? base.targetId,
    targetName: ev.targetName ?? base.targetName,
    log: ev.step ? `${base.log ?? ''}${taskLogLine(ev.at ?? new Date().toISOString(), ev.step, ev.message)}` : base.log,
    ...(state === 'succeeded' ? { result: ev.result as T } : {}),
    ...(state === 'failed' ? { error: ev.error ?? 'The operation failed.' } : {}),
  };
}
