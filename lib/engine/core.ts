// Engine internals shared by templates.ts, fork.ts, vm.ts and supervisor.ts: the live QEMU
// handles, the event emitter, Task/Event rows, reference resolution and cleanup of one VM.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { db } from '../db';
import { templateByRef, vmByRef } from './refs';
import { releaseNetwork } from './network';
import { killQemu } from './process';
import { paths } from './paths';
import { withSpace } from './reserve';
import { rmrf } from './disks';
import { tailFile, type Vmm } from './vmm';
import { logEvent } from './event-log';
import { EngineError } from './errors';
import { taskLogLine, type EngineEvent } from './events';
import type { VmState } from './states';

export interface OpContext {
  actor?: string;
  /** whose quota new VMs count against (a pool's owner for its spares); default: the actor */
  owner?: string;
  /** the operation (operations.ts) this work runs under: its first task takes the operation's id */
  operationId?: string;
  onProgress?: (p: { step: string; progress: number; message?: string }) => void;
}

export type { EngineEvent } from './events';

export type VmRow = NonNullable<Awaited<ReturnType<ReturnType<typeof db>['vm']['findUnique']>>>;
export type TemplateRow = NonNullable<Awaited<ReturnType<ReturnType<typeof db>['template']['findUnique']>>>;

/** How long an action waits for the one before it on the same VM or template (the slowest, an imported disk's boot, has 20 min at most). */
export const LOCK_WAIT_MS = 30 * 60_000;

export const newId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

export class Core {
  readonly events = new EventEmitter();
  /** live QEMU handles by VM (or slot) id */
  readonly vmms = new Map<string, Vmm>();
  /** ids being torn down or rebuilt on purpose (the supervisor leaves them alone) */
  readonly busy = new Set<string>();
  /** per-id operation locks */
  private locks = new Map<string, Promise<unknown>>();
  /** operation ids whose task row has been taken over by a Core.task (a nested task gets its own row) */
  readonly attached = new Set<string>();

  constructor() {
    this.events.setMaxListeners(1000);
  }

  emit(e: EngineEvent) {
    this.events.emit('event', e);
  }

  /** Runs `fn` with `key` locked (operations on one VM/template are serialized). */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = prev.then(() => mine);
    this.locks.set(key, chain);
    // bounded: every wait inside a holder has its own bound, but a wait without one could hang a caller for ever
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      prev.then(
        () => false,
        () => false,
      ),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), LOCK_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      release(); // our place in the queue passes on once the holder is done
      throw new EngineError('conflict', `Another action on ${key} has not finished after ${LOCK_WAIT_MS / 60_000} minutes; try again once it has ended (its task shows where it is).`);
    }
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === chain) this.locks.delete(key);
    }
  }

  async event(actor: string | undefined, action: string, target: { id?: string; name?: string }, result: 'ok' | 'error', message?: string, durationMs?: number) {
    await logEvent(actor, action, target, result, message, durationMs);
  }

  /**
   * A Task row for a long action; returns helpers to log progress and finish it. Under an operation
   * (ctx.operationId, operations.ts) the first task takes over the operation's row and id.
   */
  async task(kind: string, target: { id?: string; name?: string }, ctx: OpContext) {
    const op = ctx.operationId && !this.attached.has(ctx.operationId) ? ctx.operationId : undefined;
    const id = op ?? newId('task');
    const t0 = performance.now();
    if (op) {
      this.attached.add(op);
      await db().task.update({ where: { id }, data: { kind, targetId: target.id, targetName: target.name } });
    } else {
      await db().task.create({ data: { id, kind, state: 'running', targetId: target.id, targetName: target.name, actor: ctx.actor ?? 'system' } });
    }
    this.emit({ type: 'task', id, kind, state: 'running', progress: 0, targetId: target.id, targetName: target.name });
    let log = '';
    const self = this;
    return {
      id,
      async progress(step: string, progress: number, message?: string) {
        const at = new Date().toISOString();
        log += taskLogLine(at, step, message);
        ctx.onProgress?.({ step, progress, message });
        self.emit({ type: 'task', id, kind, state: 'running', progress, step, message, at });
        await db().task.update({ where: { id }, data: { progress, log } }).catch(() => undefined);
      },
      // under an operation only the log is written here: the operation ends the row with what its
      // function returns (operations.ts), so state and result are written once
      async done(result: unknown) {
        if (op) await db().task.update({ where: { id }, data: { log } }).catch(() => undefined);
        else {
          await db().task.update({ where: { id }, data: { state: 'succeeded', progress: 1, log, result: JSON.stringify(result), endedAt: new Date() } }).catch(() => undefined);
          self.emit({ type: 'task', id, kind, state: 'succeeded', progress: 1, result });
        }
        await self.event(ctx.actor, kind, target, 'ok', undefined, performance.now() - t0);
      },
      async fail(err: unknown) {
        const msg = (err as Error).message ?? String(err);
        log += taskLogLine(new Date().toISOString(), 'failed', msg);
        if (op) await db().task.update({ where: { id }, data: { log } }).catch(() => undefined);
        else {
          // on a full disk too (the reserve gives SQLite room), else the row says "running" until a restart
          await withSpace(() => db().task.update({ where: { id }, data: { state: 'failed', log, error: msg, endedAt: new Date() } })).catch(() => undefined);
          self.emit({ type: 'task', id, kind, state: 'failed', error: msg });
        }
        await self.event(ctx.actor, kind, target, 'error', msg, performance.now() - t0);
      },
    };
  }

  vmByRef(ref: string): Promise<VmRow> {
    return vmByRef(ref);
  }

  templateByRef(ref: string): Promise<TemplateRow> {
    return templateByRef(ref);
  }

  async nameTaken(name: string): Promise<boolean> {
    return !!((await db().vm.findUnique({ where: { name } })) || (await db().template.findUnique({ where: { name } })));
  }

  async setVm(id: string, data: Record<string, unknown>) {
    const v = await db().vm.update({ where: { id }, data });
    this.emit({ type: 'vm', id, name: v.name, state: v.state as VmState, pid: v.pid, templateId: v.templateId, persistent: v.persistent });
    return v;
  }

  /**
   * Stops a VM's QEMU (SIGKILL if still ours), closes its connections and removes its run files.
   * Non-persistent overlays live in the run dir and go with it. Keeps the DB row.
   */
  async killVm(id: string, runDir: string, pid: number | null | undefined) {
    const h = this.vmms.get(id);
    if (h) {
      h.expectExit = true;
      h.agent?.close();
      h.identity?.close();
      h.qmp.close();
      this.vmms.delete(id);
    }
    await killQemu(h?.pid ?? pid, runDir);
    rmrf(runDir);
  }

  /** Removes everything of a VM: QEMU, run files, home files (persistent disk, log), lease, row. */
  async destroyVm(id: string, runDir: string, pid: number | null | undefined) {
    await this.killVm(id, runDir, pid);
    rmrf(paths.vmHomeDir(id));
    // a rollback on a full disk must still forget the VM: withSpace frees the held-back reserve. The
    // row and its address lease go in one transaction: separately, the lease's delete could hit
    // SQLITE_FULL after an earlier rollback had used the reserve, and stay behind.
    await withSpace(() => db().$transaction([db().lease.deleteMany({ where: { vmId: id } }), db().vm.deleteMany({ where: { id } })]));
    await releaseNetwork(id).catch(() => undefined); // ports, MAC, tap (the lease is gone already)
    this.emit({ type: 'vm', id, state: 'removed' });
  }

  lastSerial(id: string): string | null {
    const f = paths.vmSerialLog(id);
    return fs.existsSync(f) ? tailFile(f) : null;
  }
}
