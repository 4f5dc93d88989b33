// A spare VMM per template for reset: a QEMU already launched with the template's checkpoint
// LOADED and paused, so a reset swaps it in (forwards, identity, cont) instead of waiting for a
// QEMU start and a checkpoint load. One per template at most, refilled in the background after
// each use. A spare is admitted like a child (admission control counts its memory; no room, no
// spare). Spares are not in the database: an engine restart kills them (reconcile: unknown QEMU,
// unowned run dir) and the next reset makes a new one.
import fs from 'node:fs';
import { config } from '../config';
import { randomBytes, randomUUID } from 'node:crypto';
import type { MachineConfig } from './argv';
import { newId, type Core, type TemplateRow } from './core';
import { admitBackground } from './admission';
import { createOverlay, mkdirPrivate, rmrf } from './disks';
import { EngineError } from './errors';
import { netConfig, PARENT_IP, USER_NET, type NetworkAllocation } from './network';
import { paths } from './paths';
import { isOurQemu, killQemu } from './process';
import { childSpec } from './templates';
import { launch, loadCheckpoint, openAgentEarly, type Vmm } from './vmm';

export interface Spare {
  id: string;
  templateId: string;
  vmm: Vmm;
  runDir: string;
  overlay: string;
  vmgenid: string;
}

interface State {
  ready: Map<string, Spare>;
  /** templates whose spare is being made (template id -> the promise) */
  making: Map<string, Promise<void>>;
  stopped: boolean;
}

const states = new WeakMap<Core, State>();
function st(core: Core): State {
  let s = states.get(core);
  if (!s) states.set(core, (s = { ready: new Map(), making: new Map(), stopped: false }));
  return s;
}

/**
 * Whether reset of this template's children can use a spare: our images (identity over the
 * resident channel, address set by the helper, not DHCP) on user-mode networking (a bridged VM's tap
 * is named after its own id). INSTACLONE_RESET_SPARE=0 turns spares off.
 */
export function spareEligible(tpl: { config: string }): boolean {
  if (!config().resetSpare) return false;
  const m = JSON.parse(tpl.config) as MachineConfig;
  if (!m.identityChannel || m.dhcp || (m.boot && m.boot !== 'kernel')) return false;
  try {
    return netConfig().mode === 'user';
  } catch {
    return false;
  }
}

/** Starts making the template's spare in the background when it has none (never throws). */
export function ensureSpare(core: Core, tpl: TemplateRow): void {
  const s = st(core);
  if (s.stopped || s.ready.has(tpl.id) || s.making.has(tpl.id) || tpl.state !== 'frozen' || !spareEligible(tpl)) return;
  const p = makeSpare(core, tpl)
    .then((spare) => {
      // the template may have been removed (or the engine stopped) while the spare was made
      if (s.stopped || s.making.get(tpl.id) !== p) return killSpare(spare);
      s.ready.set(tpl.id, spare);
      spare.vmm.qmp.once('disconnect', () => {
        if (s.ready.get(tpl.id) === spare) {
          s.ready.delete(tpl.id);
          void killSpare(spare);
        }
      });
    })
    .catch(() => undefined) // no spare: reset launches a fresh QEMU as before
    .finally(() => {
      if (s.making.get(tpl.id) === p) s.making.delete(tpl.id);
    });
  s.making.set(tpl.id, p);
}

async function makeSpare(core: Core, tpl: TemplateRow): Promise<Spare> {
  // a spare costs what a child costs: admitted like one, or not made (reset then starts a QEMU)
  const admission = await admitBackground({ id: tpl.id, name: tpl.name, memoryMiB: tpl.memoryMiB }, 1);
  if (!admission) throw new EngineError('insufficient', `No room for a reset spare of template ${tpl.name}.`);
  try {
    return await launchSpare(tpl);
  } finally {
    admission.release(); // from now on the spare's QEMU is measured (admission/usage.ts)
  }
}

async function launchSpare(tpl: TemplateRow): Promise<Spare> {
  const id = newId('vm');
  const runDir = paths.vmRunDir(id);
  const overlay = paths.overlay(id, false);
  const vmgenid = randomUUID();
  // no lease and no forwards: the reset gives the child's own ports (hostfwd_add) and its guest
  // takes the child's address and MAC from the identity step (the NIC's MAC comes from the checkpoint)
  const net: NetworkAllocation = { mac: `52:54:00:${[...randomBytes(3)].map((x) => x.toString(16).padStart(2, '0')).join(':')}`, ip: PARENT_IP, hostPorts: {}, prefixLen: USER_NET.prefixLen, gateway: USER_NET.host, mode: 'user' };
  let vmm: Vmm | undefined;
  try {
    mkdirPrivate(runDir);
    await createOverlay(overlay, tpl.diskPath);
    vmm = (await launch(id, childSpec(tpl, id, overlay, net, vmgenid, `spare-${tpl.name}`), tpl.statePath)).vmm;
    await openAgentEarly(vmm);
    await loadCheckpoint(vmm, { cont: false });
    return { id, templateId: tpl.id, vmm, runDir, overlay, vmgenid };
  } catch (e) {
    if (vmm) vmm.expectExit = true;
    vmm?.agent?.close();
    vmm?.identity?.close();
    vmm?.qmp.close();
    await killQemu(vmm?.pid, runDir);
    rmrf(runDir);
    rmrf(paths.vmHomeDir(id));
    throw e;
  }
}

/** Hands the template's ready spare to the caller (who owns it from now on), or null. */
export function takeSpare(core: Core, templateId: string): Spare | null {
  const s = st(core);
  const spare = s.ready.get(templateId);
  if (!spare) return null;
  s.ready.delete(templateId);
  if (!spare.vmm.qmp.connected || !isOurQemu(spare.vmm.pid, spare.runDir)) {
    void killSpare(spare);
    return null;
  }
  return spare;
}

/**
 * Moves the spare's serial log to `vmId`'s place, after the old log's content (QEMU keeps its
 * O_APPEND descriptor across the rename, and a paused spare has printed nothing yet), and removes
 * the spare's home dir.
 */
export function adoptSerialLog(spare: Spare, vmId: string): void {
  const from = paths.vmSerialLog(spare.id);
  const to = paths.vmSerialLog(vmId);
  fs.mkdirSync(paths.vmHomeDir(vmId), { recursive: true, mode: 0o700 });
  try {
    const { O_RDONLY, O_NOFOLLOW } = fs.constants;
    const fd = fs.openSync(to, O_RDONLY | O_NOFOLLOW);
    try {
      fs.appendFileSync(from, fs.readFileSync(fd));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no old log */
  }
  fs.renameSync(from, to);
  rmrf(paths.vmHomeDir(spare.id));
}

export async function killSpare(spare: Spare): Promise<void> {
  const v = spare.vmm;
  v.expectExit = true;
  v.agent?.close();
  v.identity?.close();
  v.qmp.close();
  await killQemu(v.pid, spare.runDir);
  rmrf(spare.runDir);
  rmrf(paths.vmHomeDir(spare.id));
}

/** Kills the template's spare (and one being made). Before its files are deleted. */
export async function discardSpare(core: Core, templateId: string): Promise<void> {
  const s = st(core);
  const making = s.making.get(templateId);
  s.making.delete(templateId); // a spare that finishes now is killed (ensureSpare's check)
  await making;
  const spare = s.ready.get(templateId);
  s.ready.delete(templateId);
  if (spare) await killSpare(spare);
}

/** Engine shutdown: kill every spare (they are not adopted after a restart). */
export async function stopSpares(core: Core): Promise<void> {
  const s = st(core);
  s.stopped = true;
  const making = [...s.making.values()];
  s.making.clear();
  await Promise.all(making);
  const all = [...s.ready.values()];
  s.ready.clear();
  await Promise.all(all.map(killSpare));
}

/** Waits until the template's spare is ready (or its making failed); true when there is one. Bench and tests. */
export async function spareReady(core: Core, templateId: string, timeoutMs = 60_000): Promise<boolean> {
  const s = st(core);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.ready.has(templateId)) return true;
    const m = s.making.get(templateId);
    if (!m) return false;
    await Promise.race([m, new Promise((r) => setTimeout(r, 100))]);
  }
  return s.ready.has(templateId);
}

/** Re-arms after stopSpares (an engine started again in the same process). */
export function startSpares(core: Core): void {
  st(core).stopped = false;
}

/** The spares running now (template, pid, run dir). */
export function spareVmms(core: Core): { templateId: string; pid: number; runDir: string }[] {
  return [...st(core).ready.values()].map((s) => ({ templateId: s.templateId, pid: s.vmm.pid, runDir: s.runDir }));
}

/** Resolves when no spare is being made. */
export async function sparesSettled(core: Core): Promise<void> {
  const s = st(core);
  while (s.making.size) await Promise.all([...s.making.values()]);
}
