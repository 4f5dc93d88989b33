// Fork: free prelaunched slots first, then registered slots, then fresh VMMs; load the checkpoint,
// cont, thaw if quiesced, verify identity; every child of a failed fork is cleaned up.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { db } from '../db';
import { nameSchema, type ForkInput } from '../validations';
import { newId, type Core, type OpContext, type TemplateRow, type VmRow } from './core';
import { createOverlay, mkdirPrivate } from './disks';
import { EngineError } from './errors';
import { checkAdmission } from './admission';
import { applyIdentity, assertNoCollisions, newMachineId, parseStoredIdentity, type ApplyIdentityOptions, type IdentityPlan, type VerifiedIdentity } from './identity';
import type { AgentClient } from './agent';
import type { IdentityChannel } from './identity-channel';
import type { MachineConfig } from './argv';
import { parseCompat } from './compat';
import { applyStockIdentity } from './identity-agent';
import { allocateNetwork, PARENT_IP, type NetworkAllocation } from './network';
import { procCpuMs } from './metrics';
import { paths } from './paths';
import { watch } from './supervisor';
import { topUpSlots } from './topup';
import { assertForwards, forwardedPorts, setForwards } from './forwards';
import { assertTemplateFiles, childSpec, templatePorts } from './templates';
import { pool } from './bounded';
import { connectAgent, launch, loadCheckpoint, openAgentEarly, type Vmm } from './vmm';
import { config } from '../config';

export interface ChildResult {
  id: string;
  name: string;
  state: string;
  persistent: boolean;
  identity: { hostname: string; mac: string; ip: string; machineId: string; vmgenid: string };
}

export interface ForkResult {
  children: ChildResult[];
  timings: { totalMs: number; perChildMs: number[] };
  /** per child: where its VMM came from and what each step cost */
  details?: {
    name: string; source: 'prelaunched' | 'slot' | 'fresh'; spawnMs: number; loadMs: number; agentMs: number; identityMs: number;
    /** CPU time (user+sys) of the child's QEMU from fork to ready (a fresh VMM: its whole life); null if unreadable */
    cpuMs: number | null;
  }[];
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** Children launched at once: each QEMU start is CPU-bound under TCG; two cores. */
/** children set up at once (INSTACLONE_FORK_CONCURRENCY) */
export const forkConcurrency = () => config().forkConcurrency;

/** Claimed slot ids (so two forks in this process never take the same slot). */
const claimed = new Set<string>();

async function childNames(core: Core, prefix: string, count: number): Promise<string[]> {
  const existing = new Set((await db().vm.findMany({ where: { name: { startsWith: `${prefix}-` } }, select: { name: true } })).map((v) => v.name));
  const out: string[] = [];
  for (let k = 1; out.length < count; k++) {
    const n = `${prefix}-${k}`;
    if (!existing.has(n) && !(await db().template.findUnique({ where: { name: n } }))) out.push(n);
  }
  return out;
}

/** `p` is parsed at the boundary (services, the CLI) with the shared forkSchema. */
export async function fork(core: Core, templateRef: string, p: ForkInput, ctx: OpContext): Promise<ForkResult> {
  const tpl = await core.templateByRef(templateRef);
  if (tpl.state !== 'frozen') {
    throw new EngineError('conflict', `Template "${tpl.name}" is ${tpl.state}, not frozen; wait for its prepare to finish or prepare it again.`);
  }
  if (p.persistent && !tpl.quiesced) {
    throw new EngineError('conflict', `Template "${tpl.name}" was not quiesced, so its disk may be inconsistent for a persistent child; prepare the template with --quiesce to fork persistent children, or fork without --persistent.`);
  }
  assertTemplateFiles(tpl);
  // admission control (lib/engine/admission.ts): refuse before anything is launched when the host
  // cannot hold p.count more children; released in the finally below.
  const admission = await checkAdmission({ kind: 'fork', template: { id: tpl.id, name: tpl.name, memoryMiB: tpl.memoryMiB }, count: p.count, persistent: p.persistent }, { actor: ctx.actor, owner: ctx.owner ?? ctx.actor });
  const prefix = p.prefix ?? tpl.name;
  const wantPorts = p.ports ?? templatePorts(tpl);
  const t0 = performance.now();
  const made: VmRow[] = [];
  const vmms: Vmm[] = [];
  let failTask = async (_e: unknown) => undefined as void; // until the task row exists
  try {
    const task = await core.task('fork', { id: tpl.id, name: tpl.name }, ctx);
    failTask = (e) => task.fail(e);
    const names = await childNames(core, prefix, p.count);
    // the engine's own invariant (a prefix may come from a template or pool name, not only from forkSchema)
    const long = names.find((n) => !nameSchema.safeParse(n).success);
    if (long) throw new EngineError('invalid', `The child name "${long}" would not be a valid hostname (at most 63 characters); fork with a shorter --prefix.`);
    // slots: prelaunched first (non-persistent only: their overlay lives on tmpfs)
    const slots = p.persistent
      ? []
      : (await db().slot.findMany({ where: { templateId: tpl.id }, orderBy: [{ prelaunched: 'desc' }, { createdAt: 'asc' }] })).filter((s) => !claimed.has(s.id));
    const taken = slots.slice(0, p.count);
    taken.forEach((s) => claimed.add(s.id));
    await task.progress('fork', 0.05, `forking ${p.count} child(ren) (${taken.filter((s) => s.prelaunched).length} prelaunched slot(s))`);
    let done = 0;
    const details: NonNullable<ForkResult['details']> = [];
    const idents: VerifiedIdentity[] = [];
    const perChild = await pool(p.count, forkConcurrency(), async (i) => {
      const c0 = performance.now();
      const slot = taken[i];
      const name = names[i];
      const id = slot?.id ?? newId('vm');
      const persistent = p.persistent;
      const runDir = paths.vmRunDir(id);
      const overlay = slot?.overlayPath ?? paths.overlay(id, persistent);
      const vmgenid = slot?.vmgenid ?? randomUUID();
      const row = await db().vm.create({
        data: { id, name, kind: 'child', state: 'starting', persistent, templateId: tpl.id, image: tpl.image, memoryMiB: tpl.memoryMiB, vcpus: tpl.vcpus, runDir, diskPath: overlay, hostname: name, vmgenid, pid: slot?.pid ?? null, owner: ctx.owner ?? ctx.actor },
      });
      made.push(row);
      if (slot) await db().slot.delete({ where: { id: slot.id } });
      core.emit({ type: 'vm', id, name, state: 'starting', templateId: tpl.id, persistent });
      let vmm = slot?.prelaunched ? core.vmms.get(slot.id) : undefined;
      let source: 'prelaunched' | 'slot' | 'fresh' = vmm ? 'prelaunched' : slot ? 'slot' : 'fresh';
      const cpu0 = vmm ? procCpuMs(vmm.pid) : 0; // a prelaunched VMM already spent its start-up before the fork
      // a prelaunched QEMU already forwards the slot's ports: keep those it should, change the rest
      const bound = vmm ? await forwardedPorts(vmm.qmp) : {};
      const net: NetworkAllocation = await allocateNetwork(id, { forwardPorts: wantPorts, reuse: { ports: bound, bound: true } });
      let spawnMs = 0;
      if (!vmm) {
        if (slot?.prelaunched) {
          // the slot's VMM is gone (not adopted): start over
          core.vmms.delete(slot.id);
          source = 'slot';
        }
        mkdirPrivate(runDir);
        if (persistent) mkdirPrivate(paths.vmHomeDir(id));
        if (!fs.existsSync(overlay)) await createOverlay(overlay, tpl.diskPath);
        const l = await launch(id, childSpec(tpl, id, overlay, net, vmgenid, name), tpl.statePath);
        vmm = l.vmm;
        spawnMs = l.spawnMs;
        watch(core, vmm);
      }
      vmms.push(vmm);
      // record what QEMU really forwards (read back), never only what was planned
      const ports = source === 'prelaunched' && net.mode === 'user' ? await setForwards(vmm.qmp, net.ip, bound, net.hostPorts) : await forwardedPorts(vmm.qmp);
      assertForwards(name, net.hostPorts, ports);
      await core.setVm(id, { pid: vmm.pid, mac: net.mac, ip: net.ip, ports: JSON.stringify(ports) });
      await openAgentEarly(vmm);
      const loadMs = await loadCheckpoint(vmm, { cont: false });
      const { ident, agentMs, identityMs } = await identifyChild(vmm, tpl, { hostname: name, mac: net.mac, ip: net.ip, machineId: newMachineId(), vmgenid }, { label: name, prefixLen: net.prefixLen, gateway: net.gateway, sshKeys: p.sshKeys ?? persistent }, () => vmm.qmp.execute('cont'));
      const cpu1 = procCpuMs(vmm.pid);
      const cpuMs = cpu0 != null && cpu1 != null ? cpu1 - cpu0 : null;
      idents.push(ident);
      await core.setVm(id, { state: 'running', startedAt: new Date(), machineId: ident.machineId, identity: JSON.stringify(ident) });
      done++;
      await task.progress('fork', 0.05 + (0.95 * done) / p.count, `${name} is running`);
      details.push({ name, source, spawnMs: r1(spawnMs), loadMs: r1(loadMs), agentMs: r1(agentMs), identityMs: r1(identityMs), cpuMs: cpuMs == null ? null : r1(cpuMs) });
      return { ms: r1(performance.now() - c0), child: { id, name, state: 'running', persistent, identity: { hostname: ident.hostname, mac: ident.mac, ip: ident.ip, machineId: ident.machineId, vmgenid: ident.vmgenid } } };
    }).finally(() => taken.forEach((s) => claimed.delete(s.id)));
    // every child is verified: now none may collide with a sibling, with the template's other live
    // children, or still hold the parent's identity (throws; the catch below removes the children)
    const madeIds = made.map((m) => m.id);
    const others = (await db().vm.findMany({ where: { templateId: tpl.id, state: 'running', id: { notIn: madeIds } }, select: { identity: true } }))
      .map((v) => parseStoredIdentity(v.identity))
      .filter((v): v is VerifiedIdentity => v !== null);
    const source = tpl.sourceVmId ? await db().vm.findUnique({ where: { id: tpl.sourceVmId }, select: { identity: true } }) : null;
    const parent: Partial<VerifiedIdentity> = parseStoredIdentity(source?.identity) ?? { ip: PARENT_IP };
    assertNoCollisions(idents, others, parent, `fork of "${tpl.name}"`);
    const result: ForkResult = {
      children: perChild.map((c) => c.child),
      timings: { totalMs: r1(performance.now() - t0), perChildMs: perChild.map((c) => c.ms) },
      details,
    };
    await task.done(result);
    // the prelaunched slots this fork used are replaced in the background (topup.ts)
    topUpSlots(core, tpl.id, taken.filter((s) => s.prelaunched).length);
    return result;
  } catch (e) {
    await failTask(e); // never throws
    // each child on its own: one whose clean-up fails (a full disk) must not keep the others
    for (const v of made) await core.destroyVm(v.id, v.runDir, core.vmms.get(v.id)?.pid ?? v.pid).catch((c) => console.error(`fork of "${tpl.name}": could not remove ${v.name}: ${(c as Error).message}`));
    for (const v of vmms) if (!made.some((m) => m.id === v.id)) await core.killVm(v.id, v.runDir, v.pid).catch(() => undefined);
    throw e;
  } finally {
    admission.release(); // admission control: the children now exist (or were cleaned up)
  }
}

/**
 * After `cont`: the child's identity and a live guest agent. With the template's identity channel
 * (MachineConfig.identityChannel) the identity goes over the resident channel WHILE the agent
 * connection is synchronised (guest-sync, no guest process start), so the child is ready at the
 * later of the two; without it (older templates, the debian image) the agent is synchronised (and
 * a quiesced guest thawed) first and applyIdentity uses guest-exec. Times are ms
 * from the call, each step's own.
 */
export async function identifyChild(
  vmm: Vmm,
  tpl: { config: string; quiesced: boolean; compat?: string },
  plan: IdentityPlan,
  opts: ApplyIdentityOptions,
  /** resumes the VM (QMP `cont`): the identity request is written first, so the guest finds it at once */
  cont?: () => Promise<unknown>,
): Promise<{ ident: VerifiedIdentity; agent?: AgentClient; agentMs: number; identityMs: number }> {
  const a0 = performance.now();
  const machine = JSON.parse(tpl.config) as MachineConfig;
  const channel = machine.identityChannel && vmm.identity?.usable ? vmm.identity : null;
  if (channel) {
    let agentMs = 0;
    let running!: () => void;
    const resumed = new Promise<void>((r) => (running = r));
    // ready = the identity answer: the agent is synchronised here only when it is needed — a
    // quiesced template's thaw, or a channel that failed (applyIdentity then falls back to
    // guest-exec). Otherwise the first exec synchronises it (connectAgent): no guest-sync round trip,
    // and no guest agent woken, on the fork's path (CPU per child under TCG).
    let needAgent!: () => void;
    const agentNeeded = tpl.quiesced ? Promise.resolve() : new Promise<void>((r) => (needAgent = r));
    const ch = Object.create(channel) as IdentityChannel;
    ch.request = (...a: Parameters<IdentityChannel['request']>) =>
      channel.request(...a).catch((e) => {
        needAgent?.();
        throw e;
      });
    // (quiesced: the thaw goes through the agent meanwhile; the helper is another guest process, so
    // a write of its that lands on a still-frozen filesystem just waits for the thaw)
    const agentP = Promise.all([resumed, agentNeeded])
      .then(() => connectAgent(vmm, 30_000))
      .then(async (a) => {
        if (tpl.quiesced) await a.call('guest-fsfreeze-thaw', undefined, 10_000).catch(() => undefined);
        agentMs = performance.now() - a0;
        return a;
      });
    agentP.catch(() => undefined); // observed below; no unhandled rejection if identity fails first
    // applyIdentity writes the request line before its first await, i.e. before `cont`
    const identP = applyIdentity(agentP, plan, { ...opts, channel: ch });
    identP.catch(() => undefined);
    try {
      if (cont) await cont();
    } finally {
      running();
    }
    const ident = await identP;
    const identityMs = performance.now() - a0;
    const agent = tpl.quiesced || ident.method !== 'channel' ? await agentP : undefined;
    return { ident, agent, agentMs, identityMs };
  }
  if (cont) await cont();
  // a guest without our helper (imported, debian): the stock agent, as its compatibility report says
  const compat = parseCompat(tpl.compat);
  const agent = await connectAgent(vmm, compat ? 120_000 : 30_000);
  if (tpl.quiesced) {
    const thaw = agent.call('guest-fsfreeze-thaw', undefined, compat ? 120_000 : 10_000);
    // a stock guest's identity writes files: on a still-frozen file system they would hang, so a
    // failed thaw is the fork's failure there (our images' helper tolerates it, as before)
    if (compat) {
      await thaw.catch((e) => {
        throw new EngineError('qemu', `child ${opts.label ?? plan.hostname}: its file systems stayed frozen (guest-fsfreeze-thaw: ${(e as Error).message}); fork again.`);
      });
    } else await thaw.catch(() => undefined);
  }
  const agentMs = performance.now() - a0;
  const i0 = performance.now();
  const ident = compat
    ? await applyStockIdentity(agent, plan, { prefixLen: opts.prefixLen ?? 8, gateway: opts.gateway ?? '10.0.2.2', label: opts.label ?? plan.hostname, iface: compat.network.iface, net: compat.network.method, sshKeys: opts.sshKeys })
    : await applyIdentity(agent, plan, opts);
  return { ident, agent, agentMs, identityMs: performance.now() - i0 };
}

export type { TemplateRow };
