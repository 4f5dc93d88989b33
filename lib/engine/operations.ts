// Operations: a long action (prepare, fork, reset of many, pool push, image import) gets a Task row
// and its id at once; the work runs on, its progress and result go out as `task` events tagged with
// that id, and `GET /api/v1/tasks/ID` reads the row. An operation cut short by a restart is failed at
// the next start-up with what it left (interruptedByRestart).
import { db } from '../db';
import type { Core, OpContext } from './core';
import { newId } from './core';
import { targetWhere } from './event-log';
import { withSpace } from './reserve';

export type OperationState = 'running' | 'succeeded' | 'failed';

export interface Operation<T> {
  id: string;
  /** settles when the operation ends; a detached caller may drop it (its rejection is handled) */
  promise: Promise<T>;
}

export interface OperationView {
  id: string;
  kind: string;
  state: OperationState;
  progress: number;
  targetId: string | null;
  targetName: string | null;
  actor: string;
  result: unknown;
  error: string | null;
  log: string;
  startedAt: Date;
  endedAt: Date | null;
}

export type OperationTarget = { id?: string; name?: string };

/**
 * Records the operation and runs `fn` with a context carrying its id: the engine function's own task
 * (Core.task) takes that id over, so the work has one id from the first byte to the result. Whatever
 * `fn` leaves unfinished (a refusal before its task began, or an action with no task of its own) is
 * finished here.
 */
export async function startOperation<T>(core: Core, kind: string, target: OperationTarget, ctx: OpContext, fn: (ctx: OpContext) => Promise<T>): Promise<Operation<T>> {
  const id = newId('task');
  const actor = ctx.actor ?? 'system';
  await db().task.create({ data: { id, kind, state: 'running', targetId: target.id, targetName: target.name, actor } });
  core.emit({ type: 'task', id, kind, state: 'running', progress: 0, targetId: target.id, targetName: target.name });
  const promise = (async () => {
    try {
      const result = await fn({ ...ctx, actor, operationId: id });
      await finish(core, id, kind, { state: 'succeeded', result });
      return result;
    } catch (e) {
      await finish(core, id, kind, { state: 'failed', error: (e as Error)?.message ?? String(e) });
      throw e;
    } finally {
      core.attached.delete(id);
    }
  })();
  promise.catch(() => undefined); // a detached caller never awaits it
  return { id, promise };
}

/** Ends a still-running operation row (once: a task that finished itself is left alone). */
async function finish(core: Core, id: string, kind: string, end: { state: 'succeeded'; result: unknown } | { state: 'failed'; error: string }): Promise<boolean> {
  const data =
    end.state === 'succeeded'
      ? { state: 'succeeded', progress: 1, result: JSON.stringify(end.result ?? null), endedAt: new Date() }
      : { state: 'failed', error: end.error, endedAt: new Date() };
  // withSpace: a failure on a full disk still ends the row (the reserve gives SQLite room)
  const n = await withSpace(() => db().task.updateMany({ where: { id, state: 'running' }, data }))
    .then((r) => r.count)
    .catch(() => 0);
  if (n) core.emit({ type: 'task', id, kind, ...(end.state === 'succeeded' ? { state: 'succeeded', progress: 1, result: end.result } : { state: 'failed', error: end.error }) });
  return n > 0;
}

type TaskRow = Omit<OperationView, 'state' | 'result'> & { state: string; result: string | null };

/** A Task row as callers see it: a closed state and the result parsed from its JSON column. */
function view(t: TaskRow): OperationView {
  let result: unknown = null;
  try {
    result = t.result ? JSON.parse(t.result) : null;
  } catch {
    result = t.result;
  }
  return { ...t, state: t.state as OperationState, result };
}

export async function getOperation(id: string): Promise<OperationView | null> {
  const t = await db().task.findUnique({ where: { id } });
  return t ? view(t) : null;
}

/** The latest operations (100 at most), newest first; `target` (an id or name) keeps those about one VM or template. */
export async function listOperations(target?: string): Promise<OperationView[]> {
  return (await db().task.findMany({ where: targetWhere(target), orderBy: { startedAt: 'desc' }, take: 100 })).map(view);
}

/** What a running task had made before the restart, read before reconcile changes the rows. */
export interface Unfinished {
  id: string;
  kind: string;
  targetId: string | null;
  targetName: string | null;
  actor: string;
  vms: { id: string; name: string }[];
}

/**
 * The running tasks and, per task, the VMs it had made: children created since it began of its
 * target template, or of a template that it made from its target (live fork, prepare of a child).
 */
export async function unfinishedOperations(): Promise<Unfinished[]> {
  const out: Unfinished[] = [];
  for (const t of await db().task.findMany({ where: { state: 'running' } })) {
    const since = { gte: t.startedAt };
    const made = t.targetId
      ? await db().template.findMany({ where: { createdAt: since, OR: [{ parentId: t.targetId }, { sourceVmId: t.targetId }] }, select: { id: true } })
      : [];
    const templates = [...(t.targetId ? [t.targetId] : []), ...made.map((m) => m.id)];
    const vms = templates.length ? await db().vm.findMany({ where: { createdAt: since, templateId: { in: templates } }, select: { id: true, name: true } }) : [];
    out.push({ id: t.id, kind: t.kind, targetId: t.targetId, targetName: t.targetName, actor: t.actor, vms });
  }
  return out;
}

/**
 * At start-up, after reconcile: every operation that was running when the console stopped ends as
 * failed, saying that a restart interrupted it and what became of the VMs it had made.
 */
export async function failInterrupted(core: Core, unfinished: Unfinished[], rec: { adopted: string[]; crashed: string[]; cleaned: string[] }): Promise<string[]> {
  const failed: string[] = [];
  for (const u of unfinished) {
    const pick = (ids: string[]) => u.vms.filter((v) => ids.includes(v.id)).map((v) => v.name);
    const adopted = pick(rec.adopted);
    const crashed = pick(rec.crashed);
    const cleaned = pick(rec.cleaned);
    const left: string[] = [];
    if (adopted.length) left.push(`${adopted.length} running child(ren) adopted (${adopted.join(', ')})`);
    if (cleaned.length) left.push(`${cleaned.length} unfinished VM(s) cleaned up (${cleaned.join(', ')})`);
    if (crashed.length) left.push(`${crashed.length} VM(s) marked crashed (${crashed.join(', ')})`);
    if (u.kind === 'prepare' && u.targetId && !(await db().template.findUnique({ where: { id: u.targetId } }))) left.push(`the half-prepared template ${u.targetName ?? u.targetId} removed`);
    const error = `Interrupted by a restart of the console; it left ${left.length ? left.join('; ') : 'nothing behind'}. Run it again if it is still wanted.`;
    const n = await db()
      .task.updateMany({ where: { id: u.id, state: 'running' }, data: { state: 'failed', error, endedAt: new Date() } })
      .then((r) => r.count);
    if (!n) continue;
    failed.push(u.id);
    core.emit({ type: 'task', id: u.id, kind: u.kind, state: 'failed', error });
    await core.event('system', u.kind, { id: u.targetId ?? undefined, name: u.targetName ?? undefined }, 'error', error);
  }
  return failed;
}
