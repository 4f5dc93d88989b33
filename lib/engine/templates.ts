// Prepare (boot parent, warm up, quiesce, freeze), slots, template deletion, and preparing a
// running child into a new template (lineage).
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { config } from '../config';
import { db } from '../db';
import type { PrepareInput } from '../validations';
import { defaultMachine, type MachineConfig, type LaunchSpec } from './argv';
import { newId, type Core, type OpContext, type TemplateRow } from './core';
import { createOverlay, mkdirPrivate, rmrf, sha256File } from './disks';
import { EngineError } from './errors';
import { checkAdmission } from './admission';
import { legacyFree, resolveImage } from './image';
import { findImported } from './imported';
import { copyVars, ovmf } from './firmware';
import { probeCompat, type CompatReport } from './compat';
import { screenshot } from './screen';
import { tailFile } from './vmm';
import { discardSpare } from './spare';
import { endTopUps } from './topup';
import { allocateNetwork, DEFAULT_FORWARD_PORTS, releaseNetwork, type NetworkAllocation } from './network';
import { paths } from './paths';
import { qemuVersion } from './qemu-version';
import { watch } from './supervisor';
import { connectAgent, launch, migrateToFile, migrateToVmm, quit, type Vmm } from './vmm';
import { keepParentRunning } from './live-fork';
import { pool } from './bounded';
import { guestText } from './guest-text';

export interface PrepareResult {
  id: string;
  name: string;
  state: 'frozen';
  quiesced: boolean;
  /** pauseMs: how long the source was paused (stop → checkpoint complete; from a VM: stop → cont) */
  timings: { bootMs: number; warmupMs: number; freezeMs: number; pauseMs: number };
  warmup: WarmupRecord[];
  slots: number;
  /** guests without our resident helper: what the stock agent offers (compat.ts) */
  compat?: CompatReport;
  /** with keepParent: the parent, which runs on as a VM of the new template */
  parent?: { id: string; name: string };
}

export interface WarmupRecord {
  cmd: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

export function childSpec(tpl: { id: string; config: string; ramPath: string }, id: string, diskPath: string, net: NetworkAllocation, vmgenid: string, name: string): LaunchSpec {
  const machine = JSON.parse(tpl.config) as MachineConfig;
  fs.mkdirSync(paths.vmHomeDir(id), { recursive: true, mode: 0o700 });
  let varsPath: string | undefined;
  if (machine.boot === 'uefi') {
    // the child resumes with the template's firmware variables, in a copy of its own
    varsPath = paths.varsBeside(diskPath);
    if (!fs.existsSync(varsPath)) copyVars(paths.templateVars(tpl.id), varsPath);
  }
  return { role: 'child', machine, runDir: paths.vmRunDir(id), serialLog: paths.vmSerialLog(id), ramPath: tpl.ramPath, diskPath, net, vmgenid, name, varsPath };
}

/** `p` is parsed at the boundary (services, the CLI) with the shared prepareSchema. */
export async function prepare(core: Core, p: PrepareInput, ctx: OpContext): Promise<PrepareResult> {
  if (await core.nameTaken(p.name)) {
    throw new EngineError('conflict', `The name "${p.name}" is already used by a template or VM; choose another name.`);
  }
  // admission control (lib/engine/admission.ts): refuse before the parent is launched when the host
  // cannot hold its RAM file, QEMU and slots; released once the prepare has finished either way.
  const memoryMiB = p.fromVm ? (await core.vmByRef(p.fromVm)).memoryMiB : p.memory;
  // quota: a parent booted from an image is one more running VM; one prepared from a running VM is not
  const owner = p.fromVm ? 'system' : (ctx.owner ?? ctx.actor);
  const admission = await checkAdmission({ kind: 'prepare', name: p.name, memoryMiB, slots: p.slots, prelaunch: p.prelaunch }, { actor: ctx.actor, owner });
  try {
    return await (p.fromVm ? prepareFromVm(core, p, ctx) : prepareFromImage(core, p, ctx));
  } finally {
    admission.release();
  }
}

export async function newTemplateRow(core: Core, p: PrepareInput, machine: MachineConfig, image: string, parentId: string | null, sourceVmId: string | null) {
  const id = newId('tpl');
  mkdirPrivate(paths.templateHomeDir(id));
  mkdirPrivate(paths.templateRunDir(id));
  try {
    const t = await db().template.create({
      data: {
        id, name: p.name, state: 'preparing', image, quiesced: false, memoryMiB: machine.memoryMiB, vcpus: machine.vcpus,
        parentId, sourceVmId, dir: paths.templateHomeDir(id), ramPath: paths.templateRam(id), statePath: paths.templateState(id),
        diskPath: paths.templateDisk(id), config: JSON.stringify(machine),
      },
    });
    core.emit({ type: 'template', id, name: p.name, state: 'preparing' });
    return t;
  } catch (e) {
    rmrf(paths.templateHomeDir(id));
    rmrf(paths.templateRunDir(id));
    if (/Unique constraint/i.test((e as Error).message)) throw new EngineError('conflict', `The name "${p.name}" is already used by a template; choose another name.`);
    throw e;
  }
}

async function runWarmups(vmm: Vmm, cmds: string[], progress: (m: string) => Promise<void>): Promise<WarmupRecord[]> {
  const agent = await connectAgent(vmm);
  const out: WarmupRecord[] = [];
  for (const cmd of cmds) {
    const t0 = performance.now();
    await progress(`warm-up: ${cmd}`);
    const res = await agent.exec(['/bin/sh', '-c', cmd], { timeoutMs: 300_000 });
    const rec = { cmd, exitCode: res.exitCode, stdout: res.stdout.slice(-4000), stderr: res.stderr.slice(-4000), ms: r1(performance.now() - t0) };
    out.push(rec);
    if (res.exitCode !== 0) {
      const said = guestText((res.stderr || res.stdout).trim().split('\n').slice(-2).join(' / '), 300); // the guest's words: bounded, no escapes
      throw new EngineError('invalid', `Warm-up command "${cmd}" failed with exit code ${res.exitCode}${said ? ` (${said})` : ''}; fix the command and prepare again.`, { warmup: out });
    }
  }
  return out;
}

/** stop + x-ignore-shared migrate of the device state into the checkpoint; returns the pause in ms. */
async function freeze(vmm: Vmm, tpl: TemplateRow, quiesce: boolean): Promise<number> {
  if (quiesce) {
    const agent = await connectAgent(vmm);
    await agent.call('guest-fsfreeze-freeze', undefined, 30_000).catch((e) => {
      throw new EngineError('qemu', `Could not quiesce the guest's file systems (${(e as Error).message}); prepare without --quiesce or check the guest agent.`);
    });
  }
  // the pause: stop → checkpoint complete on disk (socket and capabilities are set up before stop)
  const pause = await migrateToFile(vmm, paths.migrationSocket(vmm.id), tpl.statePath, true, { stop: true });
  await quit(vmm);
  return pause;
}

export async function sealTemplate(tpl: TemplateRow): Promise<Record<string, string>> {
  const files = { ram: tpl.ramPath, state: tpl.statePath, disk: tpl.diskPath };
  const sums: Record<string, string> = {};
  for (const [k, f] of Object.entries(files)) {
    fs.chmodSync(f, 0o444);
    sums[k] = await sha256File(f);
  }
  return sums;
}

export async function cleanupTemplate(core: Core, tplId: string, extraVms: { id: string; runDir: string; pid?: number | null }[]) {
  for (const v of extraVms) await core.destroyVm(v.id, v.runDir, v.pid);
  await endTopUps(core, tplId); // no slot may be launched for it after the slots are removed below
  await discardSpare(core, tplId); // its reset spare maps the RAM file and checkpoint removed below
  for (const s of await db().slot.findMany({ where: { templateId: tplId } })) {
    await core.killVm(s.id, s.runDir, s.pid);
    await releaseNetwork(s.id).catch(() => undefined);
    rmrf(paths.vmHomeDir(s.id));
  }
  await db().slot.deleteMany({ where: { templateId: tplId } });
  rmrf(paths.templateHomeDir(tplId));
  rmrf(paths.templateRunDir(tplId));
  await db().template.deleteMany({ where: { id: tplId } });
  core.emit({ type: 'template', id: tplId, state: 'removed' });
}

/** The machine and base disk for image `name`: a built-in one (-kernel) or an imported one (firmware). */
async function machineFor(p: PrepareInput): Promise<{ machine: MachineConfig; baseDisk: string; imported: boolean }> {
  const imp = await findImported(p.image);
  if (imp) {
    if (!fs.existsSync(imp.path)) throw new EngineError('not_found', `The imported image ${p.image} lost its disk (${imp.path} is missing); remove it with \`instaclone images rm ${p.image}\` and import it again.`);
    const machine = defaultMachine({ memoryMiB: p.memory, vcpus: p.vcpus, kernel: '', initrd: '', cmdline: '' });
    // firmware boot from the disk, a screen, DHCP from the VM's own address; no identity port
    // (a stock guest does not serve it: the probe would only cost its timeout)
    Object.assign(machine, { boot: imp.firmware, vga: true, dhcp: true, identityPort: false, guestNet: p.network, forwardPorts: p.ports });
    if (imp.firmware === 'uefi') machine.ovmfCode = ovmf().code;
    // an operator's disk keeps every legacy PC device (its firmware and guest may use any of them)
    delete machine.devices;
    return { machine, baseDisk: imp.path, imported: true };
  }
  if (p.image !== 'tiny' && p.image !== 'debian') {
    throw new EngineError('not_found', `There is no image named "${p.image}"; use tiny, debian or an imported image (\`instaclone images\` lists them, \`instaclone images import\` adds one).`);
  }
  const image = await resolveImage(p.image, config().home);
  for (const f of [image.files.kernel, image.files.initrd, image.files.disk]) {
    if (!fs.existsSync(f)) throw new EngineError('not_found', `The ${p.image} image is incomplete (${f} is missing); rebuild it with \`npm run setup\`.`);
  }
  return { machine: { ...defaultMachine({ memoryMiB: p.memory, vcpus: p.vcpus, kernel: image.files.kernel, initrd: image.files.initrd, cmdline: image.cmdline }, legacyFree(p.image)), guestNet: p.network, forwardPorts: p.ports }, baseDisk: image.files.disk, imported: false };
}

/** Default wait for a booting parent's guest agent (INSTACLONE_BOOT_TIMEOUT_S overrides, prepare's bootTimeout wins). */
export function bootTimeoutMs(p?: { bootTimeout?: number }): number {
  return (p?.bootTimeout ?? config().bootTimeoutS) * 1000;
}

/**
 * The boot failed (no agent in time, or QEMU died): one sentence with what was seen (the last
 * serial lines, a screen picture kept in INSTACLONE_HOME/diagnostics) and what to do.
 */
async function bootFailure(vmm: Vmm | undefined, parentId: string, p: PrepareInput, waitedMs: number, cause: Error): Promise<EngineError> {
  const serial = (tailFile(paths.vmSerialLog(parentId), 6) ?? '').split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' / ');
  let picture = '';
  if (vmm) {
    try {
      const png = await screenshot(vmm);
      mkdirPrivate(paths.diagnostics());
      const f = `${paths.diagnostics()}/prepare-${p.name}-${Date.now()}.png`;
      fs.writeFileSync(f, png, { mode: 0o600 });
      picture = `; a picture of its screen is in ${f}`;
    } catch {
      /* no screen (built-in images) or QEMU gone */
    }
  }
  const seen = serial ? `its serial console last said: "${serial.slice(0, 400)}"` : 'it wrote nothing to its serial console';
  const what = /closed|exited|ECONNREFUSED|ENOENT/i.test(cause.message) && !/did not answer/i.test(cause.message) ? 'QEMU stopped before' : `no guest agent answered within ${Math.round(waitedMs / 1000)} s after`;
  return new EngineError(
    'qemu',
    `The parent of "${p.name}" did not become ready: ${what} power-on (${seen}${picture}). Check that the disk boots (its boot loader and kernel), and that qemu-guest-agent is installed and enabled in it (Debian/Ubuntu: \`apt-get install qemu-guest-agent\`; Fedora/RHEL: \`dnf install qemu-guest-agent\`; then \`systemctl enable qemu-guest-agent\`), then prepare again (a slow guest can be given more time with --boot-timeout SECONDS).`,
  );
}

async function prepareFromImage(core: Core, p: PrepareInput, ctx: OpContext): Promise<PrepareResult> {
  const { machine, baseDisk, imported } = await machineFor(p);
  const tpl = await newTemplateRow(core, p, machine, p.image, null, null);
  const task = await core.task('prepare', { id: tpl.id, name: tpl.name }, ctx);
  const parentId = newId('vm');
  const parentRun = paths.vmRunDir(parentId);
  let vmm: Vmm | undefined;
  try {
    // the template's own base disk: a private copy of a built-in image's disk (a rebuild deletes the
    // old files), an overlay on an imported image (its removal is refused while templates use it)
    if (imported) await createOverlay(tpl.diskPath, baseDisk);
    else fs.copyFileSync(baseDisk, tpl.diskPath);
    // uefi: the parent runs on the store the template keeps (its children start from copies)
    if (machine.boot === 'uefi') copyVars(ovmf().vars, paths.templateVars(tpl.id));
    fs.mkdirSync(paths.vmHomeDir(parentId), { recursive: true, mode: 0o700 });
    await db().vm.create({
      data: { id: parentId, name: `${p.name}.parent`, kind: 'parent', state: 'starting', templateId: tpl.id, image: p.image, memoryMiB: p.memory, vcpus: p.vcpus, runDir: parentRun, diskPath: tpl.diskPath, owner: ctx.owner ?? ctx.actor },
    });
    const net = await allocateNetwork(parentId, { parent: true, forwardPorts: [] });
    await task.progress('boot', 0.05, 'booting the parent');
    const t0 = performance.now();
    const spec: LaunchSpec = {
      role: 'parent', machine, runDir: parentRun, serialLog: paths.vmSerialLog(parentId), ramPath: tpl.ramPath, diskPath: tpl.diskPath, net, vmgenid: randomUUID(), name: `${p.name}-parent`,
      varsPath: machine.boot === 'uefi' ? paths.templateVars(tpl.id) : undefined,
    };
    vmm = (await launch(parentId, spec)).vmm;
    watch(core, vmm);
    core.busy.add(parentId);
    await core.setVm(parentId, { pid: vmm.pid, mac: net.mac, ip: net.ip });
    const waitMs = bootTimeoutMs(p);
    try {
      await connectAgent(vmm, waitMs);
    } catch (e) {
      throw await bootFailure(vmm, parentId, p, waitMs, e as Error);
    }
    const bootMs = performance.now() - t0;
    // does the image serve the resident identity channel? (children then use it instead of guest-exec)
    if (machine.identityPort) {
      machine.identityChannel = (await vmm.identity?.probe(5000)) ?? false;
      await db().template.update({ where: { id: tpl.id }, data: { config: JSON.stringify(machine) } });
    }
    // any guest without our resident helper: its children are customised through the stock agent,
    // which the compatibility report says how (and whether it can)
    let compat: CompatReport | null = null;
    if (!machine.identityChannel) {
      await task.progress('compat', 0.35, 'checking what the guest agent offers');
      compat = await probeCompat(await connectAgent(vmm), { waitNetworkMs: Math.max(60_000, waitMs - (performance.now() - t0)) });
      await db().template.update({ where: { id: tpl.id }, data: { compat: JSON.stringify(compat) } });
      const blocking = compat.lines.filter((l) => !l.ok && (l.key === 'commands' || l.key === 'network'));
      if (blocking.length) throw new EngineError('conflict', `The guest of "${p.name}" cannot be forked with its own identity: ${blocking.map((l) => `${l.value}: ${l.meaning}`).join(' ')}`);
      if (p.quiesce && !compat.fsfreeze) throw new EngineError('conflict', `The guest of "${p.name}" cannot be quiesced (${compat.lines.find((l) => l.key === 'fsfreeze')?.value}); prepare without --quiesce (non-persistent children only).`);
    }
    await core.setVm(parentId, { state: 'running', startedAt: new Date() });
    await task.progress('warmup', 0.4, `parent booted in ${Math.round(bootMs)} ms`);
    const t1 = performance.now();
    const warmup = await runWarmups(vmm, p.warmup, (m) => task.progress('warmup', 0.5, m));
    const warmupMs = performance.now() - t1;
    await task.progress('freeze', 0.7, p.quiesce ? 'quiescing and freezing' : 'freezing');
    const t2 = performance.now();
    let pauseMs: number;
    if (p.keepParent) {
      // the parent runs on as itself (live-fork.ts): its own RAM file and disk, the template a copy of this moment
      const parentRow = await db().vm.findUniqueOrThrow({ where: { id: parentId } });
      pauseMs = (await keepParentRunning(core, parentRow, vmm, tpl, machine, p.quiesce, (m) => task.progress('freeze', 0.75, m))).pauseMs;
      core.busy.delete(parentId);
    } else {
      pauseMs = await freeze(vmm, tpl, p.quiesce);
      core.vmms.delete(parentId);
      core.busy.delete(parentId);
      await core.destroyVm(parentId, parentRun, null);
    }
    const freezeMs = performance.now() - t2;
    const checksums = await sealTemplate(tpl);
    if (machine.boot === 'uefi') fs.chmodSync(paths.templateVars(tpl.id), 0o444);
    const timings = { bootMs: r1(bootMs), warmupMs: r1(warmupMs), freezeMs: r1(freezeMs), pauseMs: r1(pauseMs) };
    await db().template.update({
      where: { id: tpl.id },
      data: { state: 'frozen', quiesced: p.quiesce, checksums: JSON.stringify(checksums), warmup: JSON.stringify(warmup), timings: JSON.stringify(timings), frozenAt: new Date() },
    });
    core.emit({ type: 'template', id: tpl.id, name: tpl.name, state: 'frozen' });
    await task.progress('slots', 0.85, `registering ${p.slots} slot(s)`);
    await registerSlots(core, tpl.id, p.slots, p.prelaunch);
    const result: PrepareResult = { id: tpl.id, name: tpl.name, state: 'frozen', quiesced: p.quiesce, timings: { bootMs: timings.bootMs, warmupMs: timings.warmupMs, freezeMs: timings.freezeMs, pauseMs: timings.pauseMs }, warmup, slots: p.slots, ...(compat ? { compat } : {}), ...(p.keepParent ? { parent: { id: parentId, name: `${p.name}.parent` } } : {}) };
    await task.done(result);
    return result;
  } catch (e) {
    core.busy.delete(parentId);
    await task.fail(e);
    await cleanupTemplate(core, tpl.id, [{ id: parentId, runDir: parentRun, pid: vmm?.pid }]);
    throw e;
  }
}

/**
 * Prepares a running child into a new template: the child is paused, its disk copied, its whole
 * state (RAM included) migrated into a fresh parent VMM whose RAM is a new shared file, which is
 * then frozen like any parent. The child resumes and keeps running.
 */
async function prepareFromVm(core: Core, p: PrepareInput, ctx: OpContext): Promise<PrepareResult> {
  const src = await core.vmByRef(p.fromVm!);
  if (src.state !== 'running' || src.kind !== 'child') {
    throw new EngineError('conflict', `VM "${src.name}" is ${src.state === 'running' ? 'not a child' : src.state}; only a running child can be prepared into a template (start it first).`);
  }
  const srcTpl = src.templateId ? await db().template.findUnique({ where: { id: src.templateId } }) : null;
  const srcVmm = core.vmms.get(src.id);
  if (!srcTpl || !srcVmm || !src.diskPath) throw new EngineError('conflict', `VM "${src.name}" is not managed by this engine right now; try again after it is adopted.`);
  const machine = JSON.parse(srcTpl.config) as MachineConfig;
  machine.memoryMiB = src.memoryMiB;
  machine.forwardPorts = p.ports;
  const tpl = await newTemplateRow(core, { ...p, memory: src.memoryMiB, vcpus: src.vcpus }, machine, src.image, srcTpl.id, src.id);
  // the same guest: its compatibility report carries over (the fork reads how to give identities)
  if (srcTpl.compat && srcTpl.compat !== '{}') await db().template.update({ where: { id: tpl.id }, data: { compat: srcTpl.compat } });
  const task = await core.task('prepare', { id: tpl.id, name: tpl.name }, ctx);
  const rxId = newId('vm');
  const rxRun = paths.vmRunDir(rxId);
  let rx: Vmm | undefined;
  let srcStopped = false;
  let srcFrozen = false;
  return core.withLock(src.id, async () => {
    try {
      core.busy.add(src.id);
      const t1 = performance.now();
      const agent = await connectAgent(srcVmm);
      const warmup = await runWarmups(srcVmm, p.warmup, (m) => task.progress('warmup', 0.2, m));
      const warmupMs = performance.now() - t1;
      const t2 = performance.now();
      if (p.quiesce) {
        await agent.call('guest-fsfreeze-freeze', undefined, 30_000);
        srcFrozen = true;
      }
      await srcVmm.qmp.execute('stop');
      const tStop = performance.now();
      srcStopped = true;
      fs.copyFileSync(src.diskPath!, tpl.diskPath);
      const net = await allocateNetwork(rxId, { parent: true, forwardPorts: [] });
      fs.mkdirSync(paths.vmHomeDir(rxId), { recursive: true, mode: 0o700 });
      let varsPath: string | undefined;
      if (machine.boot === 'uefi') {
        varsPath = paths.templateVars(tpl.id);
        copyVars(paths.varsBeside(src.diskPath!), varsPath);
      }
      const spec: LaunchSpec = { role: 'receiver', machine, runDir: rxRun, serialLog: paths.vmSerialLog(rxId), ramPath: tpl.ramPath, diskPath: tpl.diskPath, net, vmgenid: src.vmgenid ?? randomUUID(), name: `${p.name}-parent`, varsPath };
      rx = (await launch(rxId, spec)).vmm;
      await task.progress('freeze', 0.5, `moving ${src.name}'s state into the new template`);
      await migrateToVmm(srcVmm, rx, paths.migrationSocket(rxId));
      await srcVmm.qmp.execute('cont');
      const pauseMs = performance.now() - tStop;
      srcStopped = false;
      if (srcFrozen) {
        await agent.call('guest-fsfreeze-thaw', undefined, 30_000).catch(() => undefined);
        srcFrozen = false;
      }
      await migrateToFile(rx, paths.migrationSocket(rxId), tpl.statePath, true);
      await quit(rx);
      rmrf(rxRun);
      rmrf(paths.vmHomeDir(rxId));
      await releaseNetwork(rxId);
      const freezeMs = performance.now() - t2;
      const checksums = await sealTemplate(tpl);
      const timings = { bootMs: 0, warmupMs: r1(warmupMs), freezeMs: r1(freezeMs), pauseMs: r1(pauseMs) };
      await db().template.update({
        where: { id: tpl.id },
        data: { state: 'frozen', quiesced: p.quiesce, checksums: JSON.stringify(checksums), warmup: JSON.stringify(warmup), timings: JSON.stringify(timings), frozenAt: new Date() },
      });
      core.emit({ type: 'template', id: tpl.id, name: tpl.name, state: 'frozen' });
      await registerSlots(core, tpl.id, p.slots, p.prelaunch);
      const result: PrepareResult = { id: tpl.id, name: tpl.name, state: 'frozen', quiesced: p.quiesce, timings, warmup, slots: p.slots };
      await task.done(result);
      return result;
    } catch (e) {
      if (srcStopped) await srcVmm.qmp.execute('cont').catch(() => undefined);
      if (srcFrozen) await srcVmm.agent?.call('guest-fsfreeze-thaw', undefined, 30_000).catch(() => undefined);
      await task.fail(e);
      if (rx) await quit(rx).catch(() => undefined);
      rmrf(rxRun);
      rmrf(paths.vmHomeDir(rxId));
      await releaseNetwork(rxId).catch(() => undefined);
      await cleanupTemplate(core, tpl.id, []);
      throw e;
    } finally {
      core.busy.delete(src.id);
    }
  });
}

/** Checks that a frozen template's files are all there (a deleted RAM file would boot garbage). */
export function assertTemplateFiles(tpl: TemplateRow) {
  // the pc machine type follows the QEMU release (major.minor; a stable update keeps it): a
  // checkpoint of one release does not load in another
  const frozenWith = (JSON.parse(tpl.config) as MachineConfig).qemuVersion;
  const now = qemuVersion()?.version;
  const release = (v: string) => v.split('.').slice(0, 2).join('.');
  if (frozenWith && now && release(frozenWith) !== release(now)) {
    throw new EngineError('conflict', `Template "${tpl.name}" was frozen by QEMU ${frozenWith} and this engine runs QEMU ${now}, which cannot load its checkpoint; prepare the template again, or run the engine with that QEMU (INSTACLONE_QEMU).`);
  }
  const want: [string, string, number | null][] = [
    ['RAM file', tpl.ramPath, tpl.memoryMiB * 1024 * 1024],
    ['checkpoint', tpl.statePath, null],
    ['base disk', tpl.diskPath, null],
  ];
  for (const [what, f, size] of want) {
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch {
      throw new EngineError('conflict', `Template "${tpl.name}" is damaged: its ${what} ${f} is missing (was ${config().run} cleared, e.g. by a reboot?); delete the template and prepare it again.`);
    }
    if (size !== null && st.size !== size) {
      throw new EngineError('conflict', `Template "${tpl.name}" is damaged: its ${what} ${f} has ${st.size} bytes, expected ${size}; delete the template and prepare it again.`);
    }
  }
}

/** The guest ports a template's children get forwarded unless a fork names others. */
export function templatePorts(tpl: { config: string }): number[] {
  return (JSON.parse(tpl.config) as MachineConfig).forwardPorts ?? DEFAULT_FORWARD_PORTS;
}

/** Registers `n` slots (id, overlay on tmpfs, address, vmgenid); with `prelaunch` their QEMUs wait with -incoming defer. */
export async function registerSlots(core: Core, templateId: string, n: number, prelaunch: boolean): Promise<void> {
  const tpl = await db().template.findUniqueOrThrow({ where: { id: templateId } });
  const one = async () => {
    const id = newId('vm');
    const runDir = paths.vmRunDir(id);
    mkdirPrivate(runDir);
    const overlay = paths.overlay(id, false);
    try {
      await createOverlay(overlay, tpl.diskPath);
      const net = await allocateNetwork(id, { forwardPorts: templatePorts(tpl) });
      const vmgenid = randomUUID();
      await db().slot.create({ data: { id, templateId, runDir, overlayPath: overlay, prelaunched: false, vmgenid, mac: net.mac } });
      if (prelaunch) {
        const { vmm } = await launch(id, childSpec(tpl, id, overlay, net, vmgenid, id), tpl.statePath);
        watch(core, vmm);
        await db().slot.update({ where: { id }, data: { prelaunched: true, pid: vmm.pid } });
      }
    } catch (e) {
      await core.killVm(id, runDir, null);
      await releaseNetwork(id).catch(() => undefined);
      await db().slot.deleteMany({ where: { id } });
      rmrf(paths.vmHomeDir(id));
      throw e;
    }
  };
  await pool(n, 2, one);
}

/** Deletes a template, its slots and files. Refused while children or derived templates exist unless forced. */
export async function removeTemplate(core: Core, tpl: TemplateRow, force: boolean, ctx: OpContext): Promise<{ id: string; name: string; removed: true; children: number }> {
  const children = await db().vm.findMany({ where: { templateId: tpl.id } });
  const derived = await db().template.findMany({ where: { parentId: tpl.id } });
  if ((children.length || derived.length) && !force) {
    const what = [children.length ? `${children.length} child VM(s) (${children.slice(0, 3).map((c) => c.name).join(', ')}${children.length > 3 ? ', …' : ''})` : '', derived.length ? `${derived.length} derived template(s)` : '']
      .filter(Boolean)
      .join(' and ');
    throw new EngineError('conflict', `Template "${tpl.name}" still has ${what} that use its files; remove them first or delete with --force.`);
  }
  if (tpl.state === 'preparing') throw new EngineError('conflict', `Template "${tpl.name}" is still being prepared; wait until it is frozen.`);
  let n = 0;
  for (const d of derived) n += (await removeTemplate(core, d, true, ctx)).children;
  for (const c of children) await core.destroyVm(c.id, c.runDir, c.pid);
  n += children.length;
  for (const f of [tpl.ramPath, tpl.statePath, tpl.diskPath]) {
    try {
      fs.chmodSync(f, 0o600);
    } catch {
      /* gone */
    }
  }
  await cleanupTemplate(core, tpl.id, []);
  await core.event(ctx.actor, 'delete-template', { id: tpl.id, name: tpl.name }, 'ok', force ? `forced, ${n} child VM(s) removed` : undefined);
  return { id: tpl.id, name: tpl.name, removed: true, children: n };
}
