// One running QEMU and the low-level steps on it: launch, QMP, load a checkpoint, freeze to a file.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { config } from '../config';
import { AgentClient } from './agent';
import { IdentityChannel } from './identity-channel';
import { buildArgv, qemuUser, sockets, type LaunchSpec } from './argv';
import { EngineError } from './errors';
import { spawnQemu } from './process';
import { QmpClient } from './qmp';
import { mkdirPrivate } from './disks';
import { assignQemuUid, qemuUidOf } from './qemu-uids';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * With `-runas`, QEMU opens migration sockets after dropping root, so its uid owns the VM's run dir
 * (mode stays 0700: that uid and root only). Every VM has its own uid from the pool
 * (qemu-uids.ts); returns it. The dirs above it up to INSTACLONE_RUN become root:<qemu group>
 * 0710: traversal for that group only, no listing, nothing for anyone else. Null when QEMU runs as
 * root (not root, or the operator opted out).
 */
export function shareRunDirWithQemu(runDir: string): number | null {
  const u = qemuUser();
  if (!u) return null;
  const uid = assignQemuUid(runDir, u.gid);
  fs.chmodSync(runDir, 0o700); // a real dir (assignQemuUid lstat'ed it), ours to set
  const root = path.resolve(config().run);
  let d = path.resolve(runDir);
  if (!d.startsWith(root + path.sep)) return uid;
  while (d !== root) {
    d = path.dirname(d);
    const st = fs.lstatSync(d);
    if (!st.isDirectory()) throw new EngineError('internal', `${d} is not a directory; remove it and try again.`);
    if (st.uid !== 0 || st.gid !== u.gid) fs.lchownSync(d, 0, u.gid);
    if ((st.mode & 0o777) !== 0o710) fs.chmodSync(d, 0o710);
  }
  return uid;
}

/** A socket this (root) process listens on for QEMU to connect to: owned by the uid of the VM whose run dir holds it. */
export function giveSocketToQemu(sockPath: string): void {
  const u = qemuUser();
  if (!u) return;
  const uid = qemuUidOf(path.dirname(sockPath));
  if (uid === null) throw new EngineError('internal', `${path.dirname(sockPath)} has no QEMU uid; the VM cannot reach ${sockPath}.`);
  // lchown only, no chmod: the VM's uid owns the dir the socket is in and could swap the socket for a
  // symlink, which chmod would follow; the socket's owner bits are all it needs, the dir keeps others out
  fs.lchownSync(sockPath, uid, u.gid);
}

/** Creates `file` 0600 when missing; never through a symlink (O_NOFOLLOW) and never someone else's. */
function createPrivateFile(file: string): void {
  const { O_CREAT, O_WRONLY, O_APPEND, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(file, O_CREAT | O_WRONLY | O_APPEND | O_NOFOLLOW, 0o600);
  try {
    const st = fs.fstatSync(fd);
    if (st.uid === process.geteuid?.() && (st.mode & 0o077) !== 0) fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
}

export interface Vmm {
  id: string;
  pid: number;
  runDir: string;
  qmp: QmpClient;
  agent?: AgentClient;
  /** host side of the resident identity channel (identity-channel.ts), when the machine has the port */
  identity?: IdentityChannel;
  /** set before an intentional quit/kill so the supervisor does not call it a crash */
  expectExit?: boolean;
}

export interface LaunchResult {
  vmm: Vmm;
  spawnMs: number;
}

/**
 * Launches QEMU for `spec` (detached, sandboxed) and connects QMP. For a child, `checkpoint` is opened here
 * and handed to QEMU as fd 3 (then `migrate-incoming fd:3`): no shell, no SCM_RIGHTS needed.
 */
export async function launch(id: string, spec: LaunchSpec, checkpoint?: string): Promise<LaunchResult> {
  mkdirPrivate(spec.runDir);
  const uid = shareRunDirWithQemu(spec.runDir);
  const sk = sockets(spec.runDir);
  for (const f of [sk.qmp, sk.agent, sk.serial, sk.identity, sk.pidfile]) fs.rmSync(f, { force: true });
  createPrivateFile(spec.serialLog); // QEMU appends to it (logappend=on) and keeps its mode: 0600
  let fd: number | undefined;
  if (checkpoint) {
    try {
      fd = fs.openSync(checkpoint, 'r');
    } catch (e) {
      throw new EngineError('conflict', `The template's checkpoint ${checkpoint} cannot be opened (${(e as NodeJS.ErrnoException).code}); delete the template and prepare it again.`);
    }
  }
  let spawned;
  try {
    spawned = await spawnQemu(buildArgv({ ...spec, uid: uid ?? undefined }), spec.runDir, fd === undefined ? [] : [fd]);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  for (const f of [sk.qmp, sk.agent, sk.serial, sk.identity]) {
    try {
      if (fs.lstatSync(f).isSocket()) fs.chmodSync(f, 0o600); // never through a symlink put in its place
    } catch {
      /* created lazily */
    }
  }
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(sk.qmp, { timeoutMs: 10_000 });
  } catch (e) {
    try {
      process.kill(spawned.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    throw e;
  }
  // the identity channel's host side is connected now, before any checkpoint load / cont (and for a
  // parent before its guest boots), so the guest's resident helper never sees the port closed
  let identity: IdentityChannel | undefined;
  if (spec.machine.identityPort) identity = await IdentityChannel.connect(sk.identity, 3000).catch(() => undefined);
  return { vmm: { id, pid: spawned.pid, runDir: spec.runDir, qmp, identity }, spawnMs: spawned.spawnMs };
}

/** Loads the checkpoint passed as fd 3 at launch (x-ignore-shared: RAM comes from the mapped file), then `cont`. */
export async function loadCheckpoint(vmm: Vmm, opts: { cont?: boolean; fd?: number } = {}): Promise<number> {
  const t0 = performance.now();
  const q = vmm.qmp;
  // `events`: QEMU sends MIGRATION {status} events, so completion is seen at once (no poll backoff)
  await q.execute('migrate-set-capabilities', {
    capabilities: [
      { capability: 'x-ignore-shared', state: true },
      { capability: 'events', state: true },
    ],
  });
  const ev = migrationEvent(vmm, 30_000);
  await q.execute('migrate-incoming', { uri: `fd:${opts.fd ?? 3}` });
  await waitIncoming(vmm, 30_000, ev.promise).finally(ev.cancel);
  if (opts.cont !== false) await q.execute('cont');
  return performance.now() - t0;
}

/**
 * The next MIGRATION event with a final status (register before the command that starts it).
 * Never rejects; `cancel` removes the listener.
 */
function migrationEvent(vmm: Vmm, timeoutMs: number): { promise: Promise<string>; cancel: () => void } {
  let cancel: () => void = () => undefined;
  const promise = new Promise<string>((resolve) => {
    const on = (e: { data?: { status?: string } }) => {
      const st = String(e.data?.status);
      if (/^(completed|failed|cancelled)$/.test(st)) {
        cancel();
        resolve(st);
      }
    };
    const timer = setTimeout(() => cancel(), timeoutMs);
    cancel = () => {
      clearTimeout(timer);
      vmm.qmp.off('MIGRATION', on);
    };
    vmm.qmp.on('MIGRATION', on);
  });
  return { promise, cancel };
}

const tick = (ms: number, ev?: Promise<unknown>) => (ev ? Promise.race([sleep(ms), ev]) : sleep(ms));

async function waitIncoming(vmm: Vmm, timeoutMs: number, ev?: Promise<string>) {
  const deadline = Date.now() + timeoutMs;
  // with an event: a slow safety poll; without: a short backoff
  for (let delay = ev ? 20 : 2; ; delay = ev ? 50 : Math.min(delay * 2, 50)) {
    const st = await vmm.qmp.execute<{ status: string }>('query-status');
    if (st.status !== 'inmigrate') {
      if (st.status === 'paused' || st.status === 'running' || st.status === 'postmigrate') return;
      throw new EngineError('qemu', `Loading the checkpoint left the VM in state "${st.status}".`);
    }
    const mig = await vmm.qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (mig.status === 'failed') throw new EngineError('qemu', `Loading the checkpoint failed: ${mig['error-desc'] ?? 'unknown error'}.`);
    if (Date.now() > deadline) throw new EngineError('qemu', `Loading the checkpoint took longer than ${timeoutMs} ms.`);
    await tick(delay, ev);
  }
}

/**
 * Migrates the VM's device state, plus any RAM not in a shared file, to `outFile` through a unix
 * socket this process listens on. Resolves when QEMU reports completion and the file is fully
 * written. With `stop`, everything that does not need a paused VM (socket, capabilities) is done
 * first, then the VM is stopped: the result is the pause (stop → checkpoint complete on disk), ms.
 */
export async function migrateToFile(vmm: Vmm, sockPath: string, outFile: string, ignoreShared: boolean, opts: { stop?: boolean } = {}): Promise<number> {
  shareRunDirWithQemu(path.dirname(sockPath)); // again: an engine restart re-makes INSTACLONE_RUN 0700
  fs.rmSync(sockPath, { force: true });
  // opened here, at once: a stream that opens its file later could create it after a failed
  // freeze's clean-up had removed it (the same race as the image upload's in CI)
  const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
  const out = fs.createWriteStream(outFile, { fd: fs.openSync(outFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600) });
  let written!: Promise<void>;
  const server = net.createServer();
  const accepted = new Promise<void>((resolve, reject) => {
    server.once('connection', (c) => {
      written = new Promise<void>((res, rej) => {
        c.pipe(out);
        out.on('finish', () => res());
        out.on('error', rej);
        c.on('error', rej);
      });
      server.close();
      resolve();
    });
    server.once('error', reject);
  });
  await new Promise<void>((res, rej) => server.listen(sockPath, () => res()).once('error', rej)).catch((e) => {
    out.destroy();
    throw e;
  });
  let ev: { promise: Promise<string>; cancel: () => void } | undefined;
  try {
    giveSocketToQemu(sockPath);
    await vmm.qmp.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'x-ignore-shared', state: ignoreShared },
        { capability: 'events', state: true },
      ],
    });
    const t0 = performance.now();
    if (opts.stop) await vmm.qmp.execute('stop');
    ev = migrationEvent(vmm, 120_000);
    await vmm.qmp.execute('migrate', { uri: `unix:${sockPath}` });
    await migrationDone(vmm, 120_000, ev.promise);
    await Promise.race([accepted, sleep(5000).then(() => Promise.reject(new EngineError('qemu', 'QEMU never connected to the checkpoint socket.')))]);
    // QEMU closes the socket once the migration has completed: what is left is our own write to disk
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      written,
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new EngineError('qemu', 'The checkpoint was not written to disk within 60 s after QEMU sent it; check that INSTACLONE_HOME has room and works, then prepare again.')), 60_000))),
    ]).finally(() => clearTimeout(timer));
    return performance.now() - t0;
  } finally {
    ev?.cancel();
    server.close();
    fs.rmSync(sockPath, { force: true });
    if (!out.closed) out.destroy();
  }
}

/**
 * Migrates the stopped VM straight into another QEMU listening with -incoming defer (local, no
 * file). Each VM has its own uid and cannot enter the other's run dir, so the engine relays: src
 * sends to a socket in its own run dir, the engine forwards to dst's socket in dst's run dir.
 */
export async function migrateToVmm(src: Vmm, dst: Vmm, sockPath: string): Promise<void> {
  shareRunDirWithQemu(path.dirname(sockPath)); // dst listens there as its own uid
  fs.rmSync(sockPath, { force: true });
  await dst.qmp.execute('migrate-incoming', { uri: `unix:${sockPath}` });
  for (let i = 0; i < 200 && !fs.existsSync(sockPath); i++) await sleep(5);
  const relay = await openRelay(src, sockPath);
  try {
    await src.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: false }] });
    await src.qmp.execute('migrate', { uri: `unix:${relay.path}` });
    await migrationDone(src, 300_000);
    await waitIncoming(dst, 60_000);
  } finally {
    relay.close();
  }
  fs.rmSync(sockPath, { force: true });
}

/**
 * A socket in `src`'s own run dir that the engine forwards to `sockPath` (the receiver's, in a run
 * dir that src's uid cannot enter): QEMUs of different VMs never reach each other's files.
 */
async function openRelay(src: Vmm, sockPath: string): Promise<{ path: string; close: () => void }> {
  const relayPath = path.join(src.runDir, 'migrate-out.sock');
  fs.rmSync(relayPath, { force: true });
  const relay = net.createServer((from) => {
    const to = net.createConnection(sockPath);
    const stop = () => {
      from.destroy();
      to.destroy();
    };
    from.on('error', stop);
    to.on('error', stop);
    from.pipe(to);
    to.pipe(from);
  });
  await new Promise<void>((res, rej) => relay.listen(relayPath, () => res()).once('error', rej));
  const close = () => {
    relay.close();
    fs.rmSync(relayPath, { force: true });
  };
  try {
    giveSocketToQemu(relayPath);
  } catch (e) {
    close();
    throw e;
  }
  return { path: relayPath, close };
}

async function migrationDone(vmm: Vmm, timeoutMs: number, ev?: Promise<string>) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = ev ? 20 : 1; ; delay = ev ? 50 : Math.min(delay * 2, 50)) {
    const st = await vmm.qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (st.status === 'completed') return;
    if (st.status === 'failed' || st.status === 'cancelled') {
      throw new EngineError('qemu', `Saving the checkpoint failed: ${st['error-desc'] ?? st.status}.`);
    }
    if (Date.now() > deadline) throw new EngineError('qemu', `Saving the checkpoint took longer than ${timeoutMs} ms.`);
    await tick(delay, ev);
  }
}

/** Asks QEMU to quit and waits for its QMP connection to close (falls back to SIGKILL). */
export async function quit(vmm: Vmm, timeoutMs = 3000): Promise<void> {
  vmm.expectExit = true;
  vmm.agent?.close();
  vmm.identity?.close();
  const closed = new Promise<void>((r) => {
    if (!vmm.qmp.connected) r();
    vmm.qmp.once('disconnect', () => r());
  });
  vmm.qmp.execute('quit', undefined, timeoutMs).catch(() => undefined);
  await Promise.race([closed, sleep(timeoutMs)]);
  vmm.qmp.close();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(vmm.pid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
  try {
    process.kill(vmm.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** The VMM's agent connection, synchronised with the guest agent (waits until it answers). */
export async function connectAgent(vmm: Vmm, timeoutMs = 60_000): Promise<AgentClient> {
  if (vmm.agent) {
    await vmm.agent.ready(timeoutMs);
    return vmm.agent;
  }
  vmm.agent = await AgentClient.connect(sockets(vmm.runDir).agent, { timeoutMs });
  return vmm.agent;
}

/**
 * Opens the agent socket of a VMM that is about to load a checkpoint, before `cont` (see
 * AgentClient.open: keeps the port host-connected across the fork, so qemu-ga never sleeps on EOF).
 */
export async function openAgentEarly(vmm: Vmm): Promise<void> {
  if (!vmm.agent) vmm.agent = await AgentClient.open(sockets(vmm.runDir).agent, { timeoutMs: 5_000 });
}

/** The last `n` lines of a serial log (for crashed VMs). */
export function tailFile(file: string, n = 30): string | null {
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 16384);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    fs.closeSync(fd);
    return buf.toString('utf8').replace(/\r/g, '').split('\n').slice(-n).join('\n');
  } catch {
    return null;
  }
}

/**
 * Turns on background-snapshot for the source's next migration; returns why not when QEMU refuses
 * (it needs userfaultfd write-protect as its own user: QEMU 7.2 calls userfaultfd(2) itself, which
 * an unprivileged user may only do when vm.unprivileged_userfaultfd=1), with nothing paused.
 */
export async function enableBackgroundSnapshot(src: Vmm): Promise<string | null> {
  try {
    await src.qmp.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'x-ignore-shared', state: false },
        { capability: 'events', state: true },
        { capability: 'background-snapshot', state: true },
      ],
    });
    return null;
  } catch (e) {
    return (e as Error).message.replace(/^QEMU refused migrate-set-capabilities: /, '').replace(/\.$/, '');
  }
}

export interface SnapshotPause {
  /** stop → resume of the source as the engine sees it (QMP STOP and RESUME events, or its own stop/cont) */
  pauseMs: number;
  /** QEMU's own figure for the same pause (query-migrate `downtime`), when it gives one */
  qemuDowntimeMs: number | null;
  method: 'background-snapshot' | 'stop-and-copy';
}

/**
 * Snapshots a RUNNING source into a receiver QEMU (listening with -incoming defer) without stopping
 * it for the RAM copy: QEMU's background-snapshot capability pauses the source only to save its
 * device state, then write-protects its RAM with userfaultfd and streams it while the guest runs
 * (a page the guest writes meanwhile is copied first). Call enableBackgroundSnapshot first.
 */
export async function backgroundSnapshotToVmm(src: Vmm, dst: Vmm, sockPath: string): Promise<SnapshotPause> {
  const q = src.qmp;
  let tStop = 0;
  let tResume = 0;
  const onStop = () => (tStop ||= performance.now());
  const onResume = () => {
    if (tStop && !tResume) tResume = performance.now();
  };
  q.on('STOP', onStop);
  q.on('RESUME', onResume);
  try {
    await listenIncoming(dst, sockPath);
    const ev = migrationEvent(src, 300_000);
    const relay = await openRelay(src, sockPath);
    try {
      await q.execute('migrate', { uri: `unix:${relay.path}` });
      await migrationDone(src, 300_000, ev.promise);
    } finally {
      ev.cancel();
      relay.close();
    }
    await waitIncoming(dst, 60_000);
    const st = await q.execute<{ status: string }>('query-status');
    if (st.status !== 'running') await q.execute('cont'); // QEMU restarts it itself; never leave it paused
    const info = await q.execute<{ downtime?: number }>('query-migrate').catch(() => ({}) as { downtime?: number });
    return { pauseMs: tStop && tResume ? tResume - tStop : NaN, qemuDowntimeMs: info.downtime ?? null, method: 'background-snapshot' };
  } finally {
    q.off('STOP', onStop);
    q.off('RESUME', onResume);
    fs.rmSync(sockPath, { force: true });
    // later migrations of this VM (freeze, prepare from it) are ordinary ones again
    await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'background-snapshot', state: false }] }).catch(() => undefined);
  }
}

/** The receiver listens on `sockPath` (it and the source connect as the QEMU user). */
async function listenIncoming(dst: Vmm, sockPath: string): Promise<void> {
  shareRunDirWithQemu(path.dirname(sockPath));
  fs.rmSync(sockPath, { force: true });
  await dst.qmp.execute('migrate-incoming', { uri: `unix:${sockPath}` });
  for (let i = 0; i < 200 && !fs.existsSync(sockPath); i++) await sleep(5);
}
