// A stage-timed fork pipeline built ONLY from the engine's public pieces (its one argv builder,
// spawnQemu, QmpClient, AgentClient, applyIdentity, createOverlay). The benchmark uses it to time
// what the engine does not report on its own: a cold boot, the parent's pause during freeze, and
// a per-child breakdown (QEMU spawn, QMP connect, checkpoint load, cont, agent first answer,
// identity). It mirrors the engine's flow; it does not replace it (the headline figures come
// from Engine.prepare/fork/reset when the engine is there).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { legacyFree } from '../../lib/engine/image';
import { buildArgv, defaultMachine, sockets, type LaunchSpec, type MachineConfig } from '../../lib/engine/argv';
import { spawnQemu, killQemu } from '../../lib/engine/process';
import { QmpClient } from '../../lib/engine/qmp';
import { AgentClient } from '../../lib/engine/agent';
import { applyIdentity, newMachineId, type VerifiedIdentity } from '../../lib/engine/identity';
import { IdentityChannel } from '../../lib/engine/identity-channel';
import { createOverlay } from '../../lib/engine/disks';
import { giveSocketToQemu, shareRunDirWithQemu } from '../../lib/engine/vmm';
import { cpuSeconds } from './proc';

export interface ImageFiles {
  kernel: string;
  initrd: string;
  disk: string;
  cmdline: string;
}

export interface Vm {
  name: string;
  runDir: string;
  pid: number;
  qmp: QmpClient | null;
  agent: AgentClient | null;
  /** host side of the identity port (connected at spawn, like the engine's launch) */
  identity: IdentityChannel | null;
  ramPath?: string;
  stateFd?: number;
  spawnMs: number;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

function mac(): string {
  const b = randomBytes(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

export function machineFor(img: ImageFiles, memoryMiB: number, overrides: Partial<MachineConfig> = {}): MachineConfig {
  // the tiny image's device profile, as the engine's tiny templates have it (cold boot and forks compare like for like)
  return { ...defaultMachine({ memoryMiB, vcpus: 1, kernel: img.kernel, initrd: img.initrd, cmdline: img.cmdline }, legacyFree('tiny')), ...overrides };
}

/** Spawns one QEMU from the engine's argv builder. extraArgv is appended (experiments only). */
export async function spawnVm(
  root: string,
  role: LaunchSpec['role'],
  machine: MachineConfig,
  img: ImageFiles,
  opts: { ramPath?: string; stateFd?: number; name?: string; extraArgv?: string[]; ip?: string } = {},
): Promise<Vm> {
  const name = opts.name ?? `${role}-${++seq}-${process.pid}`;
  const runDir = path.join(root, name);
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  // as root, QEMU drops to its own user after init (like the engine's VMs): hand it the run dir
  // (the dir's own pool uid: QEMU must drop to exactly that uid, or it cannot reach its run dir)
  const uid = shareRunDirWithQemu(runDir);
  const disk = path.join(runDir, 'disk.qcow2');
  await createOverlay(disk, img.disk);
  const argv = buildArgv({
    role,
    machine,
    runDir,
    serialLog: path.join(runDir, 'serial.log'),
    ramPath: opts.ramPath,
    diskPath: disk,
    net: { mac: mac(), ip: opts.ip ?? '10.0.2.15', hostPorts: {} },
    vmgenid: randomUUID(),
    name,
    uid: uid ?? undefined,
  }).concat(opts.extraArgv ?? []);
  const fds = opts.stateFd !== undefined ? [opts.stateFd] : [];
  const sp = await spawnQemu(argv, runDir, fds);
  const identity = machine.identityPort ? await IdentityChannel.connect(sockets(runDir).identity, 3000).catch(() => null) : null;
  return { name, runDir, pid: sp.pid, qmp: null, agent: null, identity, ramPath: opts.ramPath, stateFd: opts.stateFd, spawnMs: sp.spawnMs };
}

export async function connectQmp(vm: Vm): Promise<number> {
  const t = now();
  vm.qmp = await QmpClient.connect(sockets(vm.runDir).qmp, { timeoutMs: 15_000 });
  return now() - t;
}

export async function waitAgent(vm: Vm, timeoutMs = 300_000): Promise<number> {
  const t = now();
  vm.agent = await AgentClient.connect(sockets(vm.runDir).agent, { timeoutMs });
  await vm.agent.ping();
  return now() - t;
}

export interface ColdBoot {
  vm: Vm;
  spawnMs: number;
  agentMs: number;
  readyMs: number;
}

/** Cold boot to agent-ready: a parent launched fresh from the engine's argv builder. */
export async function coldBoot(root: string, machine: MachineConfig, img: ImageFiles, name?: string): Promise<ColdBoot> {
  const nm = name ?? `cold-${++seq}-${process.pid}`;
  const ramPath = path.join(root, `${nm}.ram`);
  const t0 = now();
  const vm = await spawnVm(root, 'parent', machine, img, { ramPath, name: nm });
  const spawnMs = now() - t0;
  const agentMs = await waitAgent(vm);
  return { vm, spawnMs, agentMs, readyMs: now() - t0 };
}

export interface Frozen {
  stateFile: string;
  ramPath: string;
  machine: MachineConfig;
  /** QMP stop sent → migration completed (the parent is paused for this long) */
  pauseMs: number;
  stopMs: number;
  migrateMs: number;
  stateBytes: number;
}

/**
 * Freezes a booted parent into a template: stop, x-ignore-shared, migrate the device state to a
 * unix socket that this process writes to a file (no shell: the engine's argv sandboxes spawn).
 */
export async function freeze(parent: Vm, machine: MachineConfig, root: string): Promise<Frozen> {
  if (!parent.qmp) await connectQmp(parent);
  const q = parent.qmp!;
  const stateFile = path.join(root, `${parent.name}.state`);
  // the parent's QEMU connects after it dropped to the QEMU user: the socket sits in its run dir, owned by that user
  const sockPath = path.join(parent.runDir, 'freeze.mig.sock');
  const out = fs.createWriteStream(stateFile, { fd: fs.openSync(stateFile, 'w') }); // opened now, not after a failure's clean-up
  let listening!: Promise<void>;
  const received = new Promise<void>((resolve, reject) => {
    const srv = net.createServer((c) => {
      c.pipe(out);
      out.on('finish', () => {
        srv.close();
        resolve();
      });
    });
    srv.on('error', reject);
    listening = new Promise<void>((ok) => srv.listen(sockPath, () => ok()));
  });
  await listening;
  giveSocketToQemu(sockPath);
  await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
  const t0 = now();
  await q.execute('stop');
  const t1 = now();
  await q.execute('migrate', { uri: `unix:${sockPath}` });
  for (;;) {
    const st = await q.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (st.status === 'completed') break;
    if (st.status === 'failed' || st.status === 'cancelled') throw new Error(`freeze: migration ${st.status}: ${st['error-desc'] ?? ''}`);
    await sleep(1);
  }
  const t2 = now();
  await received;
  const stateBytes = fs.statSync(stateFile).size;
  return { stateFile, ramPath: parent.ramPath!, machine, pauseMs: t2 - t0, stopMs: t1 - t0, migrateMs: t2 - t1, stateBytes };
}

export interface ChildStages {
  spawnMs: number;
  qmpMs: number;
  loadMs: number;
  contMs: number;
  agentMs: number;
  identityMs: number;
  totalMs: number;
}

/** A slot: QEMU launched with -incoming defer, the checkpoint open as fd 3. */
export async function launchSlot(root: string, t: Frozen, img: ImageFiles, extraArgv: string[] = []): Promise<{ vm: Vm; spawnMs: number; qmpMs: number; cpuMs: number | null }> {
  const fd = fs.openSync(t.stateFile, 'r');
  try {
    const vm = await spawnVm(root, 'child', t.machine, img, { ramPath: t.ramPath, stateFd: fd, extraArgv });
    const qmpMs = await connectQmp(vm);
    const cpu = cpuSeconds(vm.pid);
    return { vm, spawnMs: vm.spawnMs, qmpMs, cpuMs: cpu == null ? null : cpu * 1000 };
  } finally {
    fs.closeSync(fd); // QEMU holds its own copy
  }
}

let ipSeq = 10;
/** Load the checkpoint, cont, wait for the agent, apply and verify identity. */
export async function goChild(vm: Vm, opts: { identity?: boolean } = {}): Promise<Omit<ChildStages, 'spawnMs' | 'qmpMs' | 'totalMs'> & { identity?: VerifiedIdentity; cpuMs: number | null }> {
  const q = vm.qmp!;
  const c0 = cpuSeconds(vm.pid);
  const t0 = now();
  await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
  await q.execute('migrate-incoming', { uri: 'fd:3' });
  for (;;) {
    const st = await q.execute<{ status: string }>('query-status');
    if (st.status !== 'inmigrate') break;
    await sleep(1);
  }
  const t1 = now();
  await q.execute('cont');
  const t2 = now();
  await waitAgent(vm, 60_000);
  const t3 = now();
  let identity: VerifiedIdentity | undefined;
  if (opts.identity !== false) {
    const n = ++ipSeq;
    identity = await applyIdentity(vm.agent!, {
      hostname: `bench-${n}`,
      mac: mac(),
      ip: `10.1.${(n >> 8) & 255}.${n & 255}`,
      machineId: newMachineId(),
      vmgenid: randomUUID(),
    }, { channel: vm.identity });
  }
  const t4 = now();
  const c1 = cpuSeconds(vm.pid);
  const cpuMs = c0 != null && c1 != null ? (c1 - c0) * 1000 : null;
  return { loadMs: t1 - t0, contMs: t2 - t1, agentMs: t3 - t2, identityMs: t4 - t3, identity, cpuMs };
}

export async function destroy(vm: Vm): Promise<void> {
  vm.agent?.close();
  vm.identity?.close();
  vm.qmp?.close();
  await killQemu(vm.pid, vm.runDir);
  fs.rmSync(vm.runDir, { recursive: true, force: true });
  if (vm.ramPath && vm.ramPath.includes('/cold-')) fs.rmSync(vm.ramPath, { force: true });
}
