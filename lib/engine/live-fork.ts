// Live fork: a RUNNING VM becomes a template at one moment (named after it, sourceVmId set, placed in
// the lineage between the VM's own template and the new children), N children fork from that
// template, and the VM carries on as itself: same QEMU process, identity, connections and disk.
//
// The moment: with quiesce (guest-fsfreeze) the source's disk cannot change, so its overlay is
// copied while it runs and QEMU's background-snapshot then pauses it only to save its device state
// (RAM is streamed afterwards under userfaultfd write-protect into a receiver whose RAM is the new
// template file). Without quiesce, disk and RAM must come from one pause: stop, copy the overlay,
// migrate the whole RAM into an already-launched receiver, cont ("stop-and-copy"). The same
// stop-and-copy is the fallback when QEMU refuses background-snapshot (no userfaultfd for its user).
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { type LiveForkInput, nameSchema } from '../validations';
import type { MachineConfig, LaunchSpec } from './argv';
import { checkAdmission } from './admission';
import { newId, type Core, type OpContext, type VmRow } from './core';
import { rmrf } from './disks';
import { EngineError } from './errors';
import { vmActionBlocked } from './states';
import { fork, type ForkResult } from './fork';
import { allocateNetwork, releaseNetwork } from './network';
import { paths } from './paths';
import { cleanupTemplate, newTemplateRow, sealTemplate, templatePorts } from './templates';
import { backgroundSnapshotToVmm, connectAgent, enableBackgroundSnapshot, launch, migrateToFile, migrateToVmm, quit, type SnapshotPause, type Vmm } from './vmm';

export interface LiveForkResult extends ForkResult {
  source: { id: string; name: string };
  template: { id: string; name: string; quiesced: boolean };
  /** the source's pause: engine view (stop → resume), QEMU's downtime, how it was taken, and why not faster */
  pause: SnapshotPause & { reason?: string };
  /** making the template: quiesce + disk copy + snapshot + checkpoint (the source runs for most of it) */
  snapshotMs: number;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** "<source>-at-<k>": the first free name (templates and VMs share one name space). */
async function templateName(core: Core, src: string): Promise<string> {
  const base = src.slice(0, 52).replace(/-+$/, '');
  for (let k = 1; ; k++) {
    const n = `${base}-at-${k}`;
    if (!(await core.nameTaken(n))) return nameSchema.parse(n);
  }
}

/** `p` is parsed at the boundary (services, the CLI) with the shared liveForkSchema. */
export async function liveFork(core: Core, src: VmRow, p: LiveForkInput, ctx: OpContext): Promise<LiveForkResult> {
  if (p.persistent && !p.quiesce) {
    throw new EngineError('conflict', `A persistent live fork of "${src.name}" needs a quiesced disk: add --quiesce (its file systems are frozen for the moment of the fork) or fork without --persistent.`);
  }
  const blocked = vmActionBlocked(src, 'fork'); // the console offers "Fork this VM…" on the same predicate
  if (blocked) throw new EngineError('conflict', blocked);
  const srcVmm = core.vmms.get(src.id);
  const srcTpl = src.templateId ? await db().template.findUnique({ where: { id: src.templateId } }) : null;
  if (!srcTpl || !srcVmm || !src.diskPath) {
    throw new EngineError('conflict', `VM "${src.name}" is not managed by this engine right now; try again after it is adopted.`);
  }
  if (src.kind === 'parent' && srcTpl.state !== 'frozen') {
    throw new EngineError('conflict', `Parent "${src.name}" is still being prepared; live-fork it once its template "${srcTpl.name}" is frozen.`);
  }
  const machine = JSON.parse(srcTpl.config) as MachineConfig;
  machine.memoryMiB = src.memoryMiB;
  const name = await templateName(core, src.name);
  // quota: the template adds no running VM (its children are counted by fork below)
  const admission = await checkAdmission({ kind: 'prepare', name, memoryMiB: src.memoryMiB, slots: 0, prelaunch: false }, { actor: ctx.actor, owner: 'system' });
  const t0 = performance.now();
  let tpl: Awaited<ReturnType<typeof newTemplateRow>> | undefined;
  try {
    tpl = await newTemplateRow(core, { name, image: 'tiny', warmup: [], slots: 0, prelaunch: false, quiesce: p.quiesce, memory: src.memoryMiB, vcpus: src.vcpus, network: machine.guestNet ?? 'isolated', ports: templatePorts({ config: JSON.stringify(machine) }) }, machine, src.image, srcTpl.id, src.id);
    const made = tpl;
    const task = await core.task('live-fork', { id: src.id, name: src.name }, ctx);
    let pause: LiveForkResult['pause'];
    try {
      pause = await core.withLock(src.id, () => snapshot(core, src, srcVmm, made, machine, p.quiesce, (m) => task.progress('snapshot', 0.3, m)));
      const checksums = await sealTemplate(made);
      await db().template.update({
        where: { id: made.id },
        data: { state: 'frozen', quiesced: p.quiesce, checksums: JSON.stringify(checksums), timings: JSON.stringify({ bootMs: 0, warmupMs: 0, freezeMs: r1(performance.now() - t0), pauseMs: r1(pause.pauseMs) }), frozenAt: new Date() },
      });
      core.emit({ type: 'template', id: made.id, name: made.name, state: 'frozen' });
      await task.done({ template: made.id, pause });
    } catch (e) {
      await task.fail(e);
      throw e;
    }
    const snapshotMs = performance.now() - t0;
    admission.release(); // the template exists; the children's admission is fork's own
    const r = await fork(core, made.id, { count: p.count, persistent: p.persistent, prefix: p.prefix ?? src.name, ...(p.ports ? { ports: p.ports } : {}) }, ctx);
    return { ...r, source: { id: src.id, name: src.name }, template: { id: made.id, name: made.name, quiesced: p.quiesce }, pause: roundPause(pause), snapshotMs: r1(snapshotMs) };
  } catch (e) {
    // a failed fork leaves no children (fork cleans up); the template it was to come from goes too
    if (tpl && !(await db().vm.count({ where: { templateId: tpl.id } }))) await cleanupTemplate(core, tpl.id, []);
    throw e;
  } finally {
    admission.release();
  }
}

const roundPause = (p: LiveForkResult['pause']) => ({ ...p, pauseMs: r1(p.pauseMs), qemuDowntimeMs: p.qemuDowntimeMs === null ? null : r1(p.qemuDowntimeMs) });

/**
 * Prepare with "keep the parent running": the running parent's RAM file and disk are the template's
 * paths, so they become the parent's own first (renamed on their file systems: QEMU keeps its open
 * mapping and fd), then the template's are made from this moment like a live fork's. Returns the pause.
 * The template keeps parentId/sourceVmId null: the parent is its first VM, not its source (no cycle).
 */
export async function keepParentRunning(core: Core, parent: VmRow, parentVmm: Vmm, tpl: { id: string; diskPath: string; ramPath: string; statePath: string; name: string }, machine: MachineConfig, quiesce: boolean, progress: (m: string) => Promise<void>): Promise<LiveForkResult['pause']> {
  const ownRam = `${paths.vmRunDir(parent.id)}/ram`;
  const ownDisk = `${paths.vmHomeDir(parent.id)}/disk.qcow2`;
  fs.renameSync(tpl.ramPath, ownRam);
  fs.renameSync(tpl.diskPath, ownDisk);
  const row = await core.setVm(parent.id, { diskPath: ownDisk });
  const pause = await snapshot(core, row, parentVmm, tpl, machine, quiesce, progress);
  // from now on it is a running VM of that template like any child (adopted after a restart, can be
  // stopped, reset to the template's moment, live-forked), not a parent mid-prepare
  await core.setVm(parent.id, { kind: 'child' });
  return pause;
}

/** Writes the template's disk, RAM file and checkpoint from the running source; the source runs on. */
async function snapshot(core: Core, src: VmRow, srcVmm: Vmm, tpl: { id: string; diskPath: string; ramPath: string; statePath: string; name: string }, machine: MachineConfig, quiesce: boolean, progress: (m: string) => Promise<void>): Promise<LiveForkResult['pause']> {
  const rxId = newId('vm');
  const rxRun = paths.vmRunDir(rxId);
  let rx: Vmm | undefined;
  let frozen = false;
  let stopped = false;
  let bgOn = false;
  core.busy.add(src.id);
  try {
    // the receiver is launched before anything pauses: its QEMU start is not part of the pause
    const net = await allocateNetwork(rxId, { parent: true, forwardPorts: [] });
    fs.mkdirSync(paths.vmHomeDir(rxId), { recursive: true, mode: 0o700 });
    const spec: LaunchSpec = { role: 'receiver', machine, runDir: rxRun, serialLog: paths.vmSerialLog(rxId), ramPath: tpl.ramPath, diskPath: tpl.diskPath, net, vmgenid: src.vmgenid ?? randomUUID(), name: `${tpl.name}-receiver` };
    const agent = quiesce ? await connectAgent(srcVmm, 30_000) : undefined;
    let why: string | null = quiesce ? null : 'no quiesce: disk and RAM must come from one pause';
    if (quiesce) {
      await progress(`quiescing ${src.name}`);
      await agent!.call('guest-fsfreeze-freeze', undefined, 30_000).catch((e) => {
        throw new EngineError('qemu', `Could not quiesce ${src.name}'s file systems (${(e as Error).message}); fork without --quiesce (non-persistent only) or check its guest agent.`);
      });
      frozen = true;
    }
    // quiesced, the guest cannot write its disk now, so this copy is the moment's disk. Otherwise it
    // is only what the receiver's -drive opens at launch: the pause below copies it again in place
    // (the receiver re-reads the image when the incoming migration activates it)
    fs.copyFileSync(src.diskPath!, tpl.diskPath);
    if (quiesce) {
      why = await enableBackgroundSnapshot(srcVmm);
      bgOn = why === null;
    }
    rx = (await launch(rxId, spec)).vmm;
    let pause: LiveForkResult['pause'];
    if (why === null) {
      await progress(`snapshotting ${src.name} while it runs`);
      pause = await backgroundSnapshotToVmm(srcVmm, rx, paths.migrationSocket(rxId));
    } else {
      await progress(`pausing ${src.name} to copy its state`);
      await srcVmm.qmp.execute('stop');
      const tStop = performance.now();
      stopped = true;
      if (!quiesce) fs.copyFileSync(src.diskPath!, tpl.diskPath);
      await migrateToVmm(srcVmm, rx, paths.migrationSocket(rxId));
      await srcVmm.qmp.execute('cont');
      stopped = false;
      pause = { pauseMs: performance.now() - tStop, qemuDowntimeMs: null, method: 'stop-and-copy', reason: why };
    }
    if (frozen) {
      await agent!.call('guest-fsfreeze-thaw', undefined, 30_000).catch(() => undefined);
      frozen = false;
    }
    await progress('writing the checkpoint');
    await migrateToFile(rx, paths.migrationSocket(rxId), tpl.statePath, true);
    await quit(rx);
    rx = undefined;
    return pause;
  } finally {
    if (stopped) await srcVmm.qmp.execute('cont').catch(() => undefined);
    if (frozen) await srcVmm.agent?.call('guest-fsfreeze-thaw', undefined, 30_000).catch(() => undefined);
    if (bgOn) await srcVmm.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'background-snapshot', state: false }] }).catch(() => undefined);
    if (rx) await quit(rx).catch(() => undefined);
    rmrf(rxRun);
    rmrf(paths.vmHomeDir(rxId));
    await releaseNetwork(rxId).catch(() => undefined);
    core.busy.delete(src.id);
  }
}
