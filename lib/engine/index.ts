// The clone engine: one instance per process, kept on globalThis (Next.js bundles server code
// more than once). All state lives in the database; QEMU processes run detached and are re-adopted.
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { config } from '../config';
import { db, dbWriteCount } from '../db';
import { Core, type OpContext, type VmRow } from './core';
import { EngineError } from './errors';
import { fork, type ForkResult } from './fork';
import { liveFork, type LiveForkResult } from './live-fork';
import { hostMemory, procMemory } from './metrics';
import { qemuPidsUnder } from './process';
import { reconcile, startPolling } from './supervisor';
import { prepare, removeTemplate, templatePorts, type PrepareResult } from './templates';
import { execVm, removeVm, resetVm, startVm, stopVm } from './vm';
import { fromJson, templateDetail, templateListRow, vmDetail, vmListRow, type Listing, type TemplateDetail, type VmDetail } from './views';
import { quit } from './vmm';
import { spareReady, spareVmms, sparesSettled, startSpares, stopSpares } from './spare';
import { startTopUps, stopTopUps, topUpsSettled } from './topup';
import { ensureReserve } from './reserve';
import { ensureRunDir } from './run-dir';
import { cleanPartialImports, importImage, listImported, removeImported, type ImportOptions } from './imported';
import { screenshot } from './screen';
import { parseCompat } from './compat';
import type { MachineConfig } from './argv';
import { listImages as listBuiltImages } from '../guest/images';
import { BUILTIN_IMAGES, type ExecInput, type ForkInput, type ImportImageInput, type LiveForkInput, type PrepareInput } from '../validations';
import { Pools } from './pools';
import pLimit from 'p-limit';
import { listEvents, type LogEvent } from './event-log';
import { failInterrupted, getOperation, listOperations, startOperation, unfinishedOperations, type Operation, type OperationTarget, type OperationView } from './operations';
import { findVm } from './refs';
import { deepFreeze } from '../freeze';

export { EngineError } from './errors';
export type { OpContext } from './core';
export type { EngineEvent } from './events';
export type { ForkResult } from './fork';
export type { LiveForkResult } from './live-fork';
export type { PrepareResult } from './templates';
export type { ImportedImage } from './imported';
export type { CompatReport, CompatLine } from './compat';
/** One entry of `images()` (built-in or imported, with the templates made from it): the console uses this type. */
export type ImageView = Awaited<ReturnType<Engine['images']>>['images'][number];
export type { ClaimResult, PoolView } from './pools';
export type { Operation, OperationState, OperationView } from './operations';
export type { LogEvent } from './event-log';
export type { Listing, PoolMembership, TemplateDetail, TemplateListRow, VmDetail, VmListRow, VmView } from './views';

/** What Engine.start found: VMs adopted, marked crashed or cleaned up, and operations a restart cut short (failed now). */
export interface StartReport {
  adopted: string[];
  crashed: string[];
  cleaned: string[];
  interrupted: string[];
}

type Ctx = OpContext & { force?: boolean };

const holder = globalThis as unknown as { __instacloneEngine?: Engine };

export class Engine {
  private core = new Core();
  private started: Promise<unknown> | null = null;
  private poller: NodeJS.Timeout | null = null;
  private poolsSvc = new Pools(this.core);

  /** The process-wide engine. */
  static get(): Engine {
    if (!holder.__instacloneEngine) holder.__instacloneEngine = new Engine();
    return holder.__instacloneEngine;
  }

  /** Forget the singleton (tests). */
  static reset(): void {
    holder.__instacloneEngine = undefined;
  }

  /** Emits `event` with {type:'vm'|'template'|'task', id, …} on every state change. */
  get events(): EventEmitter {
    return this.core.events;
  }

  /** Boots the engine: adopts running VMs and reconciles the database with what really runs (idempotent). A VM is started with startVm. */
  start(): Promise<StartReport> {
    return this.boot();
  }

  private boot(): Promise<StartReport> {
    if (!this.started) {
      this.started = (async () => {
        const c = config();
        ensureRunDir(c.run);
        fs.mkdirSync(c.home, { recursive: true });
        ensureReserve();
        cleanPartialImports(); // an import cut off by a crash or restart leaves nothing
        const unfinished = await unfinishedOperations(); // read before reconcile removes what they made
        const r = await reconcile(this.core);
        const interrupted = await failInterrupted(this.core, unfinished, r);
        // leases of VMs that no longer exist
        const ids = new Set([...(await db().vm.findMany({ select: { id: true } })).map((v) => v.id), ...(await db().slot.findMany({ select: { id: true } })).map((s) => s.id)]);
        for (const l of await db().lease.findMany()) if (!ids.has(l.vmId)) await db().lease.delete({ where: { ip: l.ip } }).catch(() => undefined);
        this.poller = startPolling(this.core);
        startSpares(this.core);
        startTopUps(this.core);
        await this.poolsSvc.start(); // after reconcile: members whose VM did not survive are replaced
        return { ...r, interrupted };
      })();
    }
    return this.started as Promise<StartReport>;
  }

  private async ready() {
    await this.boot();
  }

  /**
   * Runs a long action as an operation: its id comes back at once (the Task row exists), `promise`
   * settles with the action's result. Pass the given ctx on to the engine call, e.g.
   * `startOperation('fork', actor, (ctx) => engine.fork(ref, input, ctx), { name: ref })`.
   */
  async startOperation<T>(kind: string, actor: string | undefined, fn: (ctx: OpContext) => Promise<T>, target: OperationTarget = {}): Promise<Operation<T>> {
    await this.ready();
    return startOperation(this.core, kind, target, { actor }, fn);
  }

  /** An operation's state, progress, log and result (null when no such id). */
  operation(id: string): Promise<OperationView | null> {
    return getOperation(id);
  }

  /** The latest operations, newest first; `target` (an id or name) keeps those about one VM or template. */
  operations(target?: string): Promise<OperationView[]> {
    return listOperations(target);
  }

  /** The event log (who did what, when, with what result), newest first; `target` as for operations(). */
  eventLog(target?: string): Promise<LogEvent[]> {
    return listEvents(target);
  }

  /** Pools of spare children (lib/engine/pools): create, claim, release, resize, push, remove. */
  async pools(): Promise<Pools> {
    await this.ready();
    return this.poolsSvc;
  }

  async prepare(input: PrepareInput, ctx: OpContext = {}): Promise<PrepareResult> {
    await this.ready();
    return prepare(this.core, input, ctx);
  }

  /** Forks a template, or live-forks a running VM when `ref` names a VM (DESIGN.md: `fork VM …`). */
  async fork(ref: string, input: ForkInput & Partial<Pick<LiveForkInput, 'quiesce'>>, ctx: OpContext = {}): Promise<ForkResult | LiveForkResult> {
    await this.ready();
    ensureReserve(); // a rollback on a full disk may have used it
    const isTemplate = await this.core.templateByRef(ref).then(() => true, () => false);
    if (!isTemplate) {
      const vm = await findVm(ref);
      if (vm) return liveFork(this.core, vm, { ...input, quiesce: input.quiesce ?? false }, ctx); // forkSchema's output names no quiesce
    }
    return fork(this.core, ref, input, ctx);
  }

  /** Live fork: the running VM pauses briefly, a template is made from that moment, N children fork from it; the VM carries on as itself. */
  async liveFork(vmRef: string, input: LiveForkInput, ctx: OpContext = {}): Promise<LiveForkResult> {
    await this.ready();
    ensureReserve();
    return liveFork(this.core, await this.core.vmByRef(vmRef), input, ctx);
  }

  /** Resumes a frozen template as a running VM again: a child of itself. */
  async resumeTemplate(ref: string, ctx: OpContext = {}) {
    await this.ready();
    const tpl = await this.core.templateByRef(ref);
    const r = await fork(this.core, tpl.id, { count: 1, persistent: false, prefix: tpl.name }, ctx);
    return r.children[0];
  }

  async stop(ref: string, ctx: Ctx = {}) {
    await this.ready();
    return stopVm(this.core, await this.core.vmByRef(ref), ctx);
  }

  async startVm(ref: string, ctx: Ctx = {}) {
    await this.ready();
    return startVm(this.core, await this.core.vmByRef(ref), ctx);
  }

  async reset(ref: string, ctx: Ctx = {}) {
    await this.ready();
    return resetVm(this.core, await this.core.vmByRef(ref), ctx);
  }

  /**
   * Resets several VMs (two at a time); every VM gets its own answer, one failure stops none of the
   * others. Under an operation its task reports each VM as it ends. `elsewhere` resets a VM that is
   * not this engine's (many hosts: on its agent) and answers null for the engine's own.
   */
  async resetMany(refs: string[], ctx: Ctx = {}, elsewhere?: (ref: string) => Promise<unknown>) {
    await this.ready();
    const task = await this.core.task('reset', { name: refs.length === 1 ? refs[0] : `${refs.length} VMs` }, ctx);
    const limit = pLimit(2);
    let ended = 0;
    const one = async (ref: string) => {
      try {
        const vm = ((await elsewhere?.(ref)) ?? (await this.reset(ref, ctx))) as Awaited<ReturnType<Engine['reset']>>;
        await task.progress('reset', ++ended / refs.length, `${ref} is ${vm.state}`);
        return vm;
      } catch (e) {
        await task.progress('reset', ++ended / refs.length, `${ref} failed: ${(e as Error)?.message ?? e}`);
        throw e;
      }
    };
    const settled = await Promise.allSettled(refs.map((ref) => limit(() => one(ref))));
    const result = {
      results: settled.map((s, i) => (s.status === 'fulfilled' ? { ref: refs[i], ok: true as const, vm: s.value } : { ref: refs[i], ok: false as const, error: (s.reason as Error)?.message ?? String(s.reason) })),
    };
    await task.done(result);
    return result;
  }

  /** Removes a VM, or a template (refused while it has children unless forced). */
  async remove(ref: string, ctx: Ctx = {}) {
    await this.ready();
    const vm = await findVm(ref);
    if (vm) return removeVm(this.core, vm, !!ctx.force, ctx);
    const tpl = await this.core.templateByRef(ref).catch(() => null);
    if (!tpl) throw new EngineError('not_found', `No VM or template named "${ref}"; list them with \`instaclone ls\`.`);
    const user = await db().pool.findFirst({ where: { templateId: tpl.id } });
    if (user) throw new EngineError('conflict', `Template "${tpl.name}" is used by pool "${user.name}"; push the pool to another template or remove the pool first.`);
    return removeTemplate(this.core, tpl, !!ctx.force, ctx);
  }

  /** Runs a command in the guest through its agent; `input` is parsed with the shared execSchema. */
  async exec(vmRef: string, input: ExecInput, opts: { actor?: string } = {}) {
    await this.ready();
    return execVm(this.core, await this.core.vmByRef(vmRef), input, opts);
  }

  /** `ls` answers, kept until the next database write (lib/db dbWriteCount): computed once per change, not per request */
  private listCache: { writes: number; value: ReturnType<Engine['computeList']> } | null = null;

  list() {
    const w = dbWriteCount();
    if (this.listCache?.writes === w) return this.listCache.value;
    const value = this.computeList().then(deepFreeze); // shared by every reader: frozen (REST serialises it once)
    const entry = { writes: w, value };
    this.listCache = entry;
    value.catch(() => {
      if (this.listCache === entry) this.listCache = null;
    });
    return value;
  }

  private async computeList(): Promise<Listing> {
    const templates = await db().template.findMany({ orderBy: { createdAt: 'asc' } });
    const vms = await db().vm.findMany({ orderBy: { createdAt: 'asc' } });
    const pool = await this.poolsSvc.membership();
    const host = config().hostName; // this engine's host (many hosts: lib/cluster adds the agents' VMs)
    return { templates: templates.map(templateListRow), vms: vms.map((v) => vmListRow(v, pool.get(v.id) ?? null, host)) };
  }

  /** A VM's or a template's detail view (lib/engine/views.ts): `ref` names either. */
  async get(ref: string): Promise<VmDetail | TemplateDetail> {
    const vm = await findVm(ref);
    return vm ? this.vmDetailOf(vm) : this.template(ref);
  }

  /** GET /api/v1/vms/VM. */
  async vm(ref: string): Promise<VmDetail> {
    return this.vmDetailOf(await this.core.vmByRef(ref));
  }

  private async vmDetailOf(vm: VmRow): Promise<VmDetail> {
    const pool = (await this.poolsSvc.membership()).get(vm.id) ?? null;
    return vmDetail(vm, { host: config().hostName, pool, memory: vm.pid ? procMemory(vm.pid) : null, display: await hasDisplay(vm.templateId) });
  }

  /** GET /api/v1/templates/T. */
  async template(ref: string): Promise<TemplateDetail> {
    const t = await this.core.templateByRef(ref).catch(() => null);
    if (!t) throw new EngineError('not_found', `No VM or template named "${ref}"; list them with \`instaclone ls\`.`);
    const slots = await db().slot.findMany({ where: { templateId: t.id } });
    const children = await db().vm.findMany({ where: { templateId: t.id } });
    return templateDetail(t, { ports: templatePorts(t), slots, children });
  }

  /**
   * Built-in images (built or not yet) and imported ones. Built-in entries keep DESIGN.md's fields
   * (name, sizeBytes, kernel, builtAt); every entry adds source, built and firmware.
   */
  async images() {
    const built = new Map((await listBuiltImages(config().home)).map((m) => [m.name, m]));
    const builtin = BUILTIN_IMAGES.map((name) => {
      const m = built.get(name);
      return { name, source: 'builtin' as const, built: !!m, firmware: 'kernel' as const, sizeBytes: m?.sizeBytes ?? null, kernel: m?.kernel ?? null, builtAt: m?.builtAt ?? null };
    });
    const imported = (await listImported()).map((i) => ({ ...i, source: 'imported' as const, built: true, kernel: null, builtAt: i.importedAt }));
    // the templates prepared from each image, with their compatibility reports (the console's Images page)
    const tpls = await db().template.findMany({ select: { id: true, name: true, state: true, image: true, compat: true }, orderBy: { createdAt: 'asc' } });
    const templatesOf = (name: string) =>
      tpls.filter((t) => t.image === name).map((t) => ({ id: t.id, name: t.name, state: t.state, compat: parseCompat(t.compat) }));
    return { images: [...builtin, ...imported].map((i) => ({ ...i, templates: templatesOf(i.name) })) };
  }

  /** Imports an operator's disk (imported.ts); a task records it like other long actions. */
  async importImage(input: ImportImageInput, opts: Omit<ImportOptions, 'onProgress'> & OpContext = {}) {
    await this.ready();
    const task = await this.core.task('import', { name: input.name }, opts);
    try {
      const r = await importImage(input, { ...opts, onProgress: (m) => void task.progress('import', 0.5, m) });
      await task.done(r);
      return r;
    } catch (e) {
      await task.fail(e);
      throw e;
    }
  }

  async removeImage(name: string, ctx: OpContext = {}) {
    await this.ready();
    const r = await removeImported(name);
    await this.core.event(ctx.actor, 'delete-image', { name }, 'ok');
    return r;
  }

  /** A PNG picture of a running VM's screen (imported images have a display; parents too, during prepare). */
  async screen(ref: string): Promise<Buffer> {
    await this.ready();
    const vm = await this.core.vmByRef(ref);
    const vmm = this.core.vmms.get(vm.id);
    if (!vmm || (vm.state !== 'running' && vm.state !== 'starting')) throw new EngineError('conflict', `VM "${vm.name}" is ${vm.state}: its screen can be seen only while it runs.`);
    return screenshot(vmm);
  }

  /** Host memory and, per VM, shared vs private (from smaps_rollup). */
  async stats() {
    const vms = await db().vm.findMany({ where: { pid: { not: null } } });
    const slots = await db().slot.findMany({ where: { pid: { not: null } } });
    const per = vms.map((v) => ({ id: v.id, name: v.name, state: v.state, pid: v.pid, memory: v.pid ? procMemory(v.pid) : null }));
    const slotMem = slots.map((s) => ({ id: s.id, templateId: s.templateId, pid: s.pid, memory: s.pid ? procMemory(s.pid) : null }));
    const sum = (k: 'pssKiB' | 'privateKiB' | 'sharedKiB') => [...per, ...slotMem].reduce((a, x) => a + (x.memory?.[k] ?? 0), 0);
    return {
      host: hostMemory(),
      totals: { vms: per.length, slots: slotMem.length, pssKiB: sum('pssKiB'), privateKiB: sum('privateKiB'), sharedKiB: sum('sharedKiB') },
      vms: per,
      slots: slotMem,
    };
  }

  /** QEMU pids under this engine's run directory (for checks). */
  qemuPids(): number[] {
    return qemuPidsUnder(config().run);
  }

  /** The reset spares (spare.ts) running now: QEMUs that belong to no VM row (diagnostics, tests, bench). */
  spares(): { templateId: string; pid: number; runDir: string }[] {
    return spareVmms(this.core);
  }

  /** Waits until the template's reset spare is ready; false when it has none coming (bench, tests). */
  async spareReady(templateRef: string, timeoutMs = 60_000): Promise<boolean> {
    const tpl = await this.core.templateByRef(templateRef);
    return spareReady(this.core, tpl.id, timeoutMs);
  }

  /** Resolves when the engine's background work (slot top-ups, reset spares being made) is done: tests count QEMUs after it. */
  async settled(): Promise<void> {
    await topUpsSettled(this.core);
    await sparesSettled(this.core);
  }

  /**
   * Stops supervising. QEMU processes keep running (spawned detached) and are re-adopted by
   * the next start(); with `{ killAll: true }` every VM and slot QEMU is stopped too (tests).
   * Reset spares are killed either way.
   */
  async shutdown(opts: { killAll?: boolean } = {}) {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    this.poolsSvc.stop();
    await stopTopUps(this.core); // slots being launched become rows (adopted later) or are killed below
    await stopSpares(this.core); // never adopted after a restart: kill them whatever killAll says
    for (const [id, h] of this.core.vmms) {
      h.expectExit = true;
      if (opts.killAll) await quit(h, 1000).catch(() => undefined);
      h.agent?.close();
      h.identity?.close();
      h.qmp.close();
      this.core.vmms.delete(id);
    }
    this.started = null;
    if (holder.__instacloneEngine === this) holder.__instacloneEngine = undefined;
  }
}

/** Whether VMs of this template have a VGA device (its machine config says so; imported images do). */
async function hasDisplay(templateId: string | null): Promise<boolean> {
  if (!templateId) return false;
  const t = await db().template.findUnique({ where: { id: templateId }, select: { config: true } });
  const m = fromJson<Partial<MachineConfig> | null>(t?.config, null);
  return !!(m && typeof m === 'object' && m.vga);
}
