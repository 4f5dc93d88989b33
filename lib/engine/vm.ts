// Per-VM operations: stop, start (cold boot of a persistent child), reset, exec, remove.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { db } from '../db';
import type { ExecInput } from '../validations';
import type { MachineConfig } from './argv';
import type { Core, OpContext, VmRow } from './core';
import { createOverlay, mkdirPrivate } from './disks';
import { checkAdmission } from './admission';
import { EngineError } from './errors';
import { applyIdentity } from './identity';
import { AgentError } from './agent';
import { applyStockIdentity } from './identity-agent';
import { parseCompat } from './compat';
import { allocateNetwork, releaseNetwork } from './network';
import { paths } from './paths';
import { watch } from './supervisor';
import { assertForwards, forwardedPorts, setForwards } from './forwards';
import { adoptSerialLog, ensureSpare, killSpare, spareEligible, takeSpare } from './spare';
import { assertTemplateFiles, bootTimeoutMs, childSpec, templatePorts } from './templates';
import { connectAgent, launch, loadCheckpoint, openAgentEarly, quit, type Vmm } from './vmm';
import { identifyChild } from './fork';
import { vmActionBlocked, type VmAction } from './states';

/** The engine's guard: the same predicate the console uses to offer the action (states.ts). */
function assertCan(v: VmRow, action: VmAction, opts: { force?: boolean } = {}) {
  const why = vmActionBlocked(v, action, opts);
  if (why) throw new EngineError('conflict', why);
}

const r1 = (n: number) => Math.round(n * 10) / 10;

import { vmView } from './views';

export { vmView, type VmView } from './views';

export async function stopVm(core: Core, v: VmRow, ctx: OpContext) {
  return core.withLock(v.id, async () => {
    v = await db().vm.findUniqueOrThrow({ where: { id: v.id } });
    if (v.persistent && v.state === 'stopped') return { ...vmView(v) }; // stopping a stopped VM is a no-op
    assertCan(v, 'stop');
    const t0 = performance.now();
    core.busy.add(v.id);
    try {
      const h = core.vmms.get(v.id);
      if (!v.persistent) {
        await core.destroyVm(v.id, v.runDir, v.pid);
        await core.event(ctx.actor, 'stop', v, 'ok', 'non-persistent child destroyed', performance.now() - t0);
        return { id: v.id, name: v.name, state: 'destroyed' };
      }
      if (h) {
        // flush the guest's page cache to its disk, then quit QEMU
        const agent = await connectAgent(h, 2000).catch(() => null);
        await agent?.exec(['/bin/sync'], { timeoutMs: 10_000 }).catch(() => undefined);
        await quit(h);
        core.vmms.delete(v.id);
      }
      await core.killVm(v.id, v.runDir, v.pid);
      const out = await core.setVm(v.id, { state: 'stopped', pid: null, stoppedAt: new Date() });
      await core.event(ctx.actor, 'stop', v, 'ok', undefined, performance.now() - t0);
      return vmView(out);
    } finally {
      core.busy.delete(v.id);
    }
  });
}

/** Cold-boots a stopped persistent child from its own disk (an ordinary linked clone now). */
export async function startVm(core: Core, v: VmRow, ctx: OpContext) {
  return core.withLock(v.id, async () => {
    v = await db().vm.findUniqueOrThrow({ where: { id: v.id } });
    assertCan(v, 'start');
    const tpl = v.templateId ? await db().template.findUnique({ where: { id: v.templateId } }) : null;
    if (!tpl) throw new EngineError('conflict', `VM "${v.name}" has no template any more; remove it.`);
    if (!v.diskPath || !fs.existsSync(v.diskPath)) throw new EngineError('conflict', `VM "${v.name}"'s disk ${v.diskPath} is missing; remove the VM.`);
    // a cold boot takes the guest's whole RAM: admitted like a fork, held until it has booted
    const admission = await checkAdmission({ kind: 'start', name: v.name, memoryMiB: v.memoryMiB }, { actor: ctx.actor, owner: v.owner ?? ctx.actor });
    const t0 = performance.now();
    core.busy.add(v.id);
    const task = await core.task('start', v, ctx).catch((e) => {
      admission.release();
      throw e;
    });
    try {
      await core.setVm(v.id, { state: 'starting', error: null });
      const machine = JSON.parse(tpl.config) as MachineConfig;
      const net = await allocateNetwork(v.id, keepPorts(v, tpl));
      mkdirPrivate(v.runDir);
      mkdirPrivate(paths.vmHomeDir(v.id));
      const vmgenid = randomUUID();
      const varsPath = machine.boot === 'uefi' ? paths.varsBeside(v.diskPath) : undefined;
      const { vmm } = await launch(v.id, { role: 'cold', machine, runDir: v.runDir, serialLog: paths.vmSerialLog(v.id), diskPath: v.diskPath, net, vmgenid, name: v.name, varsPath });
      watch(core, vmm);
      await core.setVm(v.id, { pid: vmm.pid, ports: JSON.stringify(await recordedForwards(vmm, v.name, net.hostPorts)) });
      const agent = await connectAgent(vmm, bootTimeoutMs());
      const bootMs = performance.now() - t0;
      const plan = { hostname: v.hostname ?? v.name, mac: net.mac, ip: net.ip, machineId: v.machineId ?? '', vmgenid };
      const compat = parseCompat(tpl.compat);
      const ident = compat
        ? await applyStockIdentity(agent, plan, { label: v.name, prefixLen: net.prefixLen, gateway: net.gateway, iface: compat.network.iface, net: compat.network.method })
        : await applyIdentity(agent, plan, { label: v.name, prefixLen: net.prefixLen, gateway: net.gateway, channel: machine.identityChannel ? vmm.identity : null });
      const out = await core.setVm(v.id, { state: 'running', vmgenid, mac: net.mac, ip: net.ip, identity: JSON.stringify(ident), startedAt: new Date() });
      const result = { ...vmView(out), timings: { bootMs: r1(bootMs), totalMs: r1(performance.now() - t0) } };
      await task.done(result);
      return result;
    } catch (e) {
      await task.fail(e);
      await core.killVm(v.id, v.runDir, null);
      await core.setVm(v.id, { state: 'failed', pid: null, error: (e as Error).message, lastSerial: core.lastSerial(v.id) });
      throw e;
    } finally {
      admission.release();
      core.busy.delete(v.id);
    }
  });
}

/**
 * Puts a non-persistent child back to the template's exact state: kill its QEMU, a VMM with the
 * checkpoint loaded takes its place (no reboot); same name, MAC, IP and machine-id, new vmgenid.
 * That VMM is the template's spare when one is ready (spare.ts: launched and loaded beforehand, so
 * the reset only sets forwards and identity), else a fresh one; either way a new spare is made in
 * the background for the next reset.
 */
export async function resetVm(core: Core, v: VmRow, ctx: OpContext) {
  return core.withLock(v.id, async () => {
    v = await db().vm.findUniqueOrThrow({ where: { id: v.id } });
    assertCan(v, 'reset');
    const tpl = v.templateId ? await db().template.findUnique({ where: { id: v.templateId } }) : null;
    if (!tpl || tpl.state !== 'frozen') throw new EngineError('conflict', `VM "${v.name}"'s template is gone; remove the VM.`);
    assertTemplateFiles(tpl);
    const t0 = performance.now();
    core.busy.add(v.id);
    const spare = spareEligible(tpl) ? takeSpare(core, tpl.id) : null;
    let runDir = v.runDir;
    // killVm drops the old QEMU's handle at once; with a spare, the old QEMU exits while the spare
    // resumes and answers (its host ports are forwarded to the spare once it is gone)
    const oldGone = core.killVm(v.id, v.runDir, v.pid);
    oldGone.catch(() => undefined);
    try {
      if (!spare) await oldGone;
      await core.setVm(v.id, { state: 'starting', pid: null });
      const net = await allocateNetwork(v.id, keepPorts(v, tpl));
      let vmm: Vmm;
      let overlay: string;
      let vmgenid: string;
      let spawnMs = 0;
      let loadMs = 0;
      let ports: Record<number, number>;
      let ident: Awaited<ReturnType<typeof identifyChild>>['ident'];
      const plan = (id: string) => ({ hostname: v.hostname ?? v.name, mac: net.mac, ip: net.ip, machineId: v.machineId!, vmgenid: id });
      const identOpts = { label: v.name, prefixLen: net.prefixLen, gateway: net.gateway };
      if (spare) {
        // the spare's run dir, overlay and uid become the child's; its serial log follows the old one
        ({ vmm, runDir, overlay, vmgenid } = spare);
        vmm.id = v.id;
        watch(core, vmm); // from here on killVm(v.id) finds and kills it
        adoptSerialLog(spare, v.id);
        await core.setVm(v.id, { pid: vmm.pid, runDir, diskPath: overlay });
        const sv = vmm;
        const identP = identifyChild(sv, tpl, plan(vmgenid), identOpts, () => sv.qmp.execute('cont'));
        identP.catch(() => undefined); // awaited below, after the forwards
        await oldGone;
        ports = await setForwards(vmm.qmp, net.ip, {}, net.hostPorts);
        assertForwards(v.name, net.hostPorts, ports);
        ({ ident } = await identP);
      } else {
        runDir = paths.vmRunDir(v.id);
        mkdirPrivate(runDir);
        overlay = paths.overlay(v.id, false);
        await createOverlay(overlay, tpl.diskPath);
        vmgenid = randomUUID();
        const l = await launch(v.id, childSpec(tpl, v.id, overlay, net, vmgenid, v.name), tpl.statePath);
        const fv = l.vmm;
        vmm = fv;
        spawnMs = l.spawnMs;
        watch(core, vmm);
        ports = await recordedForwards(vmm, v.name, net.hostPorts);
        await core.setVm(v.id, { pid: vmm.pid, runDir, diskPath: overlay });
        await openAgentEarly(vmm);
        loadMs = await loadCheckpoint(vmm, { cont: false });
        ({ ident } = await identifyChild(fv, tpl, plan(vmgenid), identOpts, () => fv.qmp.execute('cont')));
      }
      await core.setVm(v.id, { ports: JSON.stringify(ports) });
      const out = await core.setVm(v.id, { state: 'running', pid: vmm.pid, vmgenid, identity: JSON.stringify(ident), startedAt: new Date(), error: null });
      const totalMs = performance.now() - t0;
      await core.event(ctx.actor, 'reset', v, 'ok', spare ? 'from the template\'s spare VMM' : undefined, totalMs);
      return { ...vmView(out), fromSpare: !!spare, timings: { totalMs: r1(totalMs), spawnMs: r1(spawnMs), loadMs: r1(loadMs) } };
    } catch (e) {
      await core.event(ctx.actor, 'reset', v, 'error', (e as Error).message);
      await oldGone.catch(() => undefined);
      await core.killVm(v.id, runDir, null);
      if (spare && runDir !== spare.runDir) await killSpare(spare); // taken but not swapped in yet
      await releaseNetwork(v.id).catch(() => undefined);
      await core.setVm(v.id, { state: 'failed', pid: null, error: (e as Error).message });
      throw e;
    } finally {
      core.busy.delete(v.id);
      ensureSpare(core, tpl);
    }
  });
}

/** Allocation options that give a VM again the guest ports it had, on the same host ports if free. */
function keepPorts(v: VmRow, tpl: { config: string }) {
  let had: Record<number, number> = {};
  try {
    had = JSON.parse(v.ports || '{}');
  } catch {
    /* a malformed column: start afresh */
  }
  const guest = Object.keys(had).map(Number);
  return { forwardPorts: guest.length ? guest : templatePorts(tpl), reuse: { ports: had } };
}

/** What QEMU really forwards (read back), checked against the plan, to be recorded for the VM. */
async function recordedForwards(vmm: Vmm, name: string, planned: Record<number, number>) {
  const actual = await forwardedPorts(vmm.qmp);
  assertForwards(name, planned, actual);
  return actual;
}

/**
 * The agent's refusal to start a program (e.g. `Failed to execute child process "x" (No such file or
 * directory)`) is the operator's input, not a server fault: one sentence, 422.
 */
export function execStartError(program: string, e: unknown): unknown {
  if (!(e instanceof AgentError) || e.command !== 'guest-exec') return e;
  // the OS's reason is the last parenthesised phrase that is not the error class (GenericError)
  const why = [...e.message.matchAll(/\(([^()]+)\)/g)].map((m) => m[1]).filter((g) => !/^[A-Za-z]+$/.test(g)).at(-1) ?? 'the guest agent refused it';
  const hint = /no such file/i.test(why) ? 'check its name, or give its full path (busybox applets: /bin/busybox NAME)' : 'check the command and its permissions in the guest';
  return new EngineError('invalid', `The guest could not start "${program.slice(0, 100)}" (${why.toLowerCase()}): ${hint}.`);
}

/** `input` is parsed at the boundary (services, the CLI) with the shared execSchema. */
export async function execVm(core: Core, v: VmRow, input: ExecInput, opts: { actor?: string } = {}) {
  assertCan(v, 'exec');
  const h = core.vmms.get(v.id);
  if (!h) throw new EngineError('conflict', `VM "${v.name}" is not connected to this engine yet; try again in a moment.`);
  const agent = await connectAgent(h, 10_000);
  const t0 = performance.now();
  const res = await agent.exec(input.command, { timeoutMs: input.timeoutMs }).catch((e) => {
    throw execStartError(input.command[0], e);
  });
  await core.event(opts.actor, 'exec', v, res.exitCode === 0 ? 'ok' : 'error', `${input.command.join(' ').slice(0, 200)} -> exit ${res.exitCode}`, performance.now() - t0);
  return { exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr };
}

export async function removeVm(core: Core, v: VmRow, force: boolean, ctx: OpContext) {
  return core.withLock(v.id, async () => {
    assertCan(v, 'delete', { force });
    core.busy.add(v.id);
    try {
      await core.destroyVm(v.id, v.runDir, v.pid);
      await core.event(ctx.actor, 'remove', v, 'ok');
      return { id: v.id, name: v.name, removed: true };
    } finally {
      core.busy.delete(v.id);
    }
  });
}
