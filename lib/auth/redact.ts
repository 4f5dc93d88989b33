// What a viewer may not read: what was run or typed in a guest and what the guest printed — exec
// command lines, warm-up commands and their output, serial lines (the serial stream and log and the
// screen are refused outright in their routes). Everything else (states, identities, timings, exit
// codes, who did what) stays visible. One place, applied by every route a viewer can reach.
import type { Principal } from './tokens';

export const HIDDEN = '[hidden from viewers]';

export const needsRedaction = (p: Pick<Principal, 'role'>) => p.role === 'viewer';

/** Free text (task errors, event messages, a VM's error) with the guest-controlled parts cut out. */
export function redactText<T extends string | null | undefined>(s: T): T {
  if (!s) return s;
  return s
    .replace(/Warm-up command "[\s\S]*?" failed with exit code (-?\d+)[\s\S]*; fix the command and prepare again\./, `A warm-up command failed with exit code $1 (${HIDDEN}); fix the command and prepare again.`)
    .replace(/warm-up: [\s\S]*/, `warm-up: ${HIDDEN}`)
    .replace(/its serial console last said: "[\s\S]*"(?=; a picture of its screen is in |\)\. Check that)/, `its serial console last said: ${HIDDEN}`)
    .replace(/its serial console last said: "[\s\S]*/, `its serial console last said: ${HIDDEN}`) // unanchored: all of the rest
    .replace(/guest said: [\s\S]*/, `guest said: ${HIDDEN}`) as T; // an identity check quoting the guest's stderr: the rest is its words
}

/** A task's log: one entry per step, each starting with its ISO time (a command may span lines). */
const redactLog = (log: string) =>
  log
    .split(/\n(?=\d{4}-\d\d-\d\dT)/)
    .map((l) => redactText(l))
    .join('\n');

type WarmupLike = { exitCode?: unknown; ms?: unknown };
const redactWarmups = (w: unknown) => (Array.isArray(w) ? w.map((x: WarmupLike) => ({ cmd: HIDDEN, exitCode: x?.exitCode, ms: x?.ms })) : w);

/** A parsed result (operations, live task events): its warm-up records without commands or output. */
const redactResultObject = (r: unknown) => (r && typeof r === 'object' && 'warmup' in r ? { ...r, warmup: redactWarmups((r as { warmup: unknown }).warmup) } : r);

/** Operations (GET /api/v1/tasks and /tasks/ID): the log, error and parsed result. */
export function redactOperation<T extends { log: string; result: unknown; error: string | null }>(op: T): T {
  return { ...op, log: redactLog(op.log), result: redactResultObject(op.result), error: redactText(op.error) };
}

export function redactEvent<T extends { action: string; message: string | null }>(e: T): T {
  if (e.action === 'exec') {
    const exit = e.message?.match(/ -> exit (-?\d+)$/);
    return { ...e, message: exit ? `${HIDDEN} -> exit ${exit[1]}` : HIDDEN };
  }
  return { ...e, message: redactText(e.message) };
}

/** engine().get(): a VM's last serial lines and error, a template's warm-up records and error. */
export function redactView<T extends object>(v: T): T {
  const out: Record<string, unknown> = Object.assign<Record<string, unknown>, T>({}, v);
  if ('lastSerial' in out) out.lastSerial = out.lastSerial ? HIDDEN : out.lastSerial;
  if ('warmup' in out) out.warmup = redactWarmups(out.warmup);
  if (typeof out.error === 'string') out.error = redactText(out.error);
  return out as T;
}

/** A live engine event (/api/events): task progress messages and errors. */
export function redactEngineEvent<T extends { type: string; message?: unknown; error?: unknown }>(ev: T): T {
  if (ev.type !== 'task' && ev.type !== 'vm' && ev.type !== 'template') return ev;
  const out: Record<string, unknown> = { ...ev };
  if (typeof out.message === 'string') out.message = redactText(out.message);
  if (typeof out.error === 'string') out.error = redactText(out.error);
  if ('lastSerial' in out) out.lastSerial = HIDDEN;
  if ('result' in out) out.result = redactResultObject(out.result);
  return out as T;
}
