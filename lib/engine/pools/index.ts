// Pools: named sets of children of one template. Spares are forked, identified and verified ahead
// of time (by the Keeper), so a claim is only a database update: mark one spare claimed, return it.
// Spares wait RUNNING, not paused (bench/experiments/spare-mode.ts): a paused spare needs `cont`
// and a guest clock fix on the claim path, i.e. QEMU and guest round trips instead of ~1 ms.
import { db } from '../../db';
// inputs are parsed once at the boundary (services, the CLI) with the shared pool schemas
import type { PoolClaimInput, PoolCreateInput, PoolPushInput, PoolResizeInput } from '../../validations/pools';
import { forkCapacity } from '../admission';
import { childRoom } from '../quotas';
import { newId, type Core, type OpContext } from '../core';
import { EngineError } from '../errors';
import type { PoolChange } from '../events';
import type { VmState } from '../states';
import { resetVm } from '../vm';
import { Keeper } from './keeper';
import { claimLatency, localRefills, refillRate } from './stats';
import { clearClaim, dropMember, poolByRef, type PoolRow } from './store';
import { idempotentClaim } from './claim-request';
import { takeSpareFast, takenWithKey, type Taken } from './take';

export { refillConcurrency } from './keeper';

function safeJson(s: string | null | undefined): Record<string, unknown> {
  try {
    return s ? JSON.parse(s) : {};
  } catch {
    return {};
  }
}

export interface ClaimResult {
  vm: { id: string; name: string; identity: { hostname: string | null; mac: string | null; ip: string | null; machineId: string | null; vmgenid: string | null }; ports: Record<string, number> };
  claimMs: number;
  source: 'spare' | 'forked';
  pool: string;
  label: string | null;
  expiresAt: string | null;
  /** many hosts: the agent that handed the spare out */
  host?: string;
  /** the caller's request id, when the claim carried one */
  requestId?: string;
  /** true when a retry with the same request id got the first attempt's child */
  replayed?: boolean;
}

function resultOf(vm: Taken['vm'], pool: string, label: string | null, expiresAt: Date | null, claimMs: number, source: ClaimResult['source']): ClaimResult {
  const ident = { hostname: vm.hostname, mac: vm.mac, ip: vm.ip, machineId: vm.machineId, vmgenid: vm.vmgenid };
  return { vm: { id: vm.id, name: vm.name, identity: ident, ports: safeJson(vm.ports) as Record<string, number> }, claimMs, source, pool, label, expiresAt: expiresAt?.toISOString() ?? null };
}

export interface PoolView {
  id: string;
  name: string;
  templateId: string;
  template: string | null;
  state: string;
  size: number;
  /** spares the pool keeps (K) */
  spares: number;
  /** spares ready now */
  ready: number;
  claimed: number;
  /** children being forked, reset or replaced */
  refilling: number;
  onRelease: string;
  ttlSec: number | null;
  /** a push in progress: members already on the pool's template out of all members */
  push: { templateId: string; done: number; total: number } | null;
  claimLatencyMs: { p50: number | null; p95: number | null; n: number };
  claims: number;
  refill: { perMinute: number; meanMs: number | null; lastAt: string | null };
  error: string | null;
  /** many hosts: the agent holding each member (absent on one host) */
  members: { vmId: string; name: string | null; state: string; templateId: string; claimedBy: string | null; label: string | null; claimedAt: string | null; expiresAt: string | null; host?: string }[];
  /** many hosts: each host's share (spares asked of it, ready, claimed) */
  hosts?: { host: string; state: string; spares: number; ready: number; claimed: number }[];
}

export class Pools {
  readonly keeper: Keeper;
  /** callers of claim --wait, woken when a pool changes */
  private waiters = new Set<() => void>();

  constructor(private core: Core) {
    this.keeper = new Keeper(core, (vmId, actor, reason) => this.release(vmId, { actor }, reason), (id) => this.demand.get(id) ?? 0);
    core.events.on('event', (e) => {
      if (e.type === 'pool') for (const w of [...this.waiters]) w();
    });
  }

  start() {
    return this.keeper.start();
  }

  stop() {
    this.keeper.stop();
  }

  private emit(p: { id: string; name: string }, extra: PoolChange = {}) {
    this.core.emit({ type: 'pool', id: p.id, name: p.name, ...extra });
  }

  async create(p: PoolCreateInput, ctx: OpContext = {}): Promise<PoolView> {
    if (await db().pool.findUnique({ where: { name: p.name } })) throw new EngineError('conflict', `A pool named "${p.name}" already exists; choose another name or remove it first.`);
    const tpl = await this.core.templateByRef(p.template);
    if (tpl.state !== 'frozen') throw new EngineError('conflict', `Template "${tpl.name}" is ${tpl.state}, not frozen; wait for its prepare to finish.`);
    const cap = await forkCapacity(tpl);
    if (p.size > cap.fits) {
      throw new EngineError('insufficient', `A pool of ${p.size} children of "${tpl.name}" is above what admission control allows now (${cap.fits} fit, bound by ${cap.binding ?? 'the limits'}); choose --size ${Math.max(1, cap.fits)} or less, or free host memory.`);
    }
    // its spares count against whoever creates it (lib/engine/quotas.ts): say so now, not at each refill
    const room = await childRoom(ctx.actor);
    if (p.spares > room) {
      throw new EngineError('quota', `The quota of ${ctx.actor} leaves room for ${room} more children, fewer than the ${p.spares} spares asked for: choose --spares ${room} or less, remove some children, or ask an admin to raise the quota.`);
    }
    const row = await db().pool.create({ data: { id: newId('pool'), name: p.name, templateId: tpl.id, size: p.size, spares: p.spares, onRelease: p.onRelease, ttlSec: p.ttl ?? null, state: 'active', owner: ctx.actor ?? null } });
    await this.core.event(ctx.actor, 'pool.create', row, 'ok', `template ${tpl.name}, size ${p.size}, spares ${p.spares}, on release ${p.onRelease}${p.ttl ? `, ttl ${p.ttl}s` : ''}`);
    this.emit(row, { state: 'active' });
    void this.keeper.kick();
    return this.view(row);
  }

  async list(): Promise<{ pools: PoolView[] }> {
    const rows = await db().pool.findMany({ orderBy: { createdAt: 'asc' } });
    return { pools: await Promise.all(rows.map((r) => this.view(r))) };
  }

  async get(ref: string): Promise<PoolView> {
    return this.view(await poolByRef(ref));
  }

  async view(pool: PoolRow): Promise<PoolView> {
    const members = await db().poolMember.findMany({ where: { poolId: pool.id }, orderBy: { createdAt: 'asc' } });
    const vms = new Map((await db().vm.findMany({ where: { id: { in: members.map((m) => m.vmId) } }, select: { id: true, name: true } })).map((v) => [v.id, v.name]));
    const tpl = await db().template.findUnique({ where: { id: pool.templateId }, select: { name: true } });
    const lat = await claimLatency(pool.id);
    const releasing = members.filter((m) => m.state === 'releasing' || this.keeper.releasing.has(m.vmId)).length;
    const onOld = members.filter((m) => m.templateId !== pool.templateId).length;
    return {
      id: pool.id,
      name: pool.name,
      templateId: pool.templateId,
      template: tpl?.name ?? null,
      state: pool.state,
      size: pool.size,
      spares: pool.spares,
      ready: members.filter((m) => m.state === 'spare' && m.templateId === pool.templateId).length,
      claimed: members.filter((m) => m.state === 'claimed').length,
      refilling: this.keeper.comingFor(pool.id) + releasing,
      onRelease: pool.onRelease,
      ttlSec: pool.ttlSec,
      push: onOld > 0 ? { templateId: pool.templateId, done: members.length - onOld, total: members.length } : null,
      claimLatencyMs: { p50: lat.p50, p95: lat.p95, n: lat.n },
      claims: lat.total,
      refill: refillRate(await localRefills(pool.id)),
      error: this.keeper.lastError.get(pool.id) ?? null,
      members: members.map((m) => ({
        vmId: m.vmId,
        name: vms.get(m.vmId) ?? null,
        state: m.state,
        templateId: m.templateId,
        claimedBy: m.claimedBy,
        label: m.label,
        claimedAt: m.claimedAt?.toISOString() ?? null,
        expiresAt: m.expiresAt?.toISOString() ?? null,
      })),
    };
  }

  /**
   * Takes one ready spare (takeSpareFast: raw SQL, a conditional update so two claims never get the
   * same child), then dates the claim (claimedAt, TTL) through Prisma.
   */
  private async takeSpare(ref: string, actor: string, label: string | null, claimKey: string | null) {
    for (;;) {
      const t = await takeSpareFast(ref, actor, label, claimKey);
      if (!t) return null;
      if (t.vm.state === 'running') return t;
      // crashed or removed between the refill and now: give it back; the keeper replaces it
      await db().poolMember.updateMany({ where: { vmId: t.vmId }, data: { ...clearClaim } });
      void this.keeper.kick();
    }
  }

  /** What is on its way, for a refusal that says when to come back. */
  private async coming(pool: PoolRow): Promise<string> {
    const members = await db().poolMember.findMany({ where: { poolId: pool.id }, select: { vmId: true } });
    const n = this.keeper.comingFor(pool.id) + members.filter((m) => this.keeper.releasing.has(m.vmId)).length;
    if (n > 0) return `${n} spare(s) coming`;
    if (members.length >= pool.size) return `all ${pool.size} children are claimed; release one or resize the pool`;
    if (pool.spares === 0) return `the pool keeps no spares (--spares 0)`;
    return `a refill is starting${this.keeper.lastError.get(pool.id) ? `; the last one failed: ${this.keeper.lastError.get(pool.id)}` : ''}`;
  }

  /**
   * With a request id, a retry by the same principal gets the first attempt's child while it stays
   * claimed (lib/engine/pools/claim-request.ts); without one, every call claims a child.
   */
  async claim(ref: string, p: PoolClaimInput, ctx: OpContext = {}): Promise<ClaimResult> {
    if (!p.requestId) return this.claimOnce(ref, p, ctx, null);
    const pool = await poolByRef(ref);
    return idempotentClaim({
      principal: ctx.actor ?? 'system',
      requestId: p.requestId,
      poolId: pool.id,
      poolName: pool.name,
      take: (key) => this.claimOnce(pool.id, p, ctx, key),
      stamped: async (key) => {
        const t = await takenWithKey(key);
        const m = t && (await db().poolMember.findUnique({ where: { vmId: t.vmId } }));
        return t && m ? resultOf(t.vm, pool.name, m.label, m.expiresAt, 0, 'spare') : null;
      },
    });
  }

  private async claimOnce(ref: string, p: PoolClaimInput, ctx: OpContext, claimKey: string | null): Promise<ClaimResult> {
    const t0 = performance.now();
    const actor = ctx.actor ?? 'system';
    const label = p.label || null;
    // the fast path first: no pool lookup before the update (refusals below take the slow path)
    let got = await this.takeSpare(ref, actor, label, claimKey);
    let source: ClaimResult['source'] = 'spare';
    if (!got) {
      let pool = await poolByRef(ref);
      if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; claim from another pool.`);
      if (!p.wait) throw new EngineError('unavailable', `Pool "${pool.name}" has no spare ready (${await this.coming(pool)}); try again in a moment or claim with --wait SECONDS.`);
      source = 'forked';
      const deadline = Date.now() + p.wait * 1000;
      // a claim that waits may fork on demand: with --spares 0 the keeper would not fork at all
      let wake: () => void = () => undefined;
      const onChange = () => wake();
      this.waiters.add(onChange);
      this.demand.set(pool.id, (this.demand.get(pool.id) ?? 0) + 1);
      try {
        while (!got) {
          void this.keeper.kick();
          const left = deadline - Date.now();
          if (left <= 0) break;
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, Math.min(left, 500));
          });
          pool = await poolByRef(ref);
          if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; claim from another pool.`);
          got = await this.takeSpare(pool.id, actor, label, claimKey);
        }
      } finally {
        this.waiters.delete(onChange);
        this.demand.set(pool.id, (this.demand.get(pool.id) ?? 1) - 1);
      }
      if (!got) throw new EngineError('unavailable', `No spare of pool "${pool.name}" became ready within ${p.wait} s (${await this.coming(pool)}); try again or wait longer.`);
    }
    const { vm, poolId } = got;
    const pool = (await db().$queryRaw<{ name: string; ttlSec: number | null }[]>`SELECT "name", "ttlSec" FROM "Pool" WHERE "id" = ${poolId}`)[0];
    const now = new Date();
    const expiresAt = pool?.ttlSec ? new Date(now.getTime() + Number(pool.ttlSec) * 1000) : null;
    const target = { id: poolId, name: pool?.name ?? ref };
    const claimMs = Math.round((performance.now() - t0) * 1000) / 1000;
    // after the answer: the claim's dates (TTL; the keeper sees them within ms), the event (latency,
    // counter) and the refill
    setImmediate(() => {
      void db()
        .poolMember.updateMany({ where: { vmId: vm.id, state: 'claimed' }, data: { claimedAt: now, expiresAt } })
        .catch(() => undefined);
      void this.core.event(actor, 'pool.claim', target, 'ok', `claimMs=${claimMs} ${vm.name}${label ? ` label=${label}` : ''} (${source})`, claimMs);
      void this.keeper.kick();
    });
    this.emit(target, { claimed: vm.id, claimMs });
    this.core.emit({ type: 'vm', id: vm.id, name: vm.name, state: vm.state as VmState, pool: target.name, claimedBy: actor });
    return resultOf(vm, target.name, label, expiresAt, claimMs, source);
  }

  /** claims waiting per pool: the keeper forks for them even beyond the pool's spares */
  readonly demand = new Map<string, number>();

  /** reset: back to the template's state and a spare again; delete (or a pushed template): thrown away, a fresh spare is forked. */
  async release(vmRef: string, ctx: OpContext = {}, reason: 'manual' | 'ttl' = 'manual') {
    const vm = await this.core.vmByRef(vmRef);
    const m = await db().poolMember.findUnique({ where: { vmId: vm.id } });
    const pool = m ? await db().pool.findUnique({ where: { id: m.poolId } }) : null;
    const notClaimed = () =>
      new EngineError('conflict', `VM "${vm.name}" is not claimed from a pool${m && pool ? ` (it is a ${m.state === 'releasing' ? 'child being released' : m.state} of pool "${pool.name}")` : ''}; only claimed children can be released.`);
    if (!m || !pool || m.state !== 'claimed') throw notClaimed();
    const r = await db().poolMember.updateMany({ where: { vmId: vm.id, state: 'claimed' }, data: { state: 'releasing' } });
    if (r.count !== 1) throw notClaimed();
    this.keeper.releasing.add(vm.id);
    this.emit(pool, { releasing: vm.id });
    const t0 = performance.now();
    const actor = ctx.actor ?? 'system';
    const why = reason === 'ttl' ? `claim by ${m.claimedBy} expired after ${pool.ttlSec} s (ttl)` : `released by ${actor}`;
    try {
      if (pool.onRelease === 'reset' && pool.state === 'active' && m.templateId === pool.templateId) {
        await resetVm(this.core, vm, { actor });
        await db().poolMember.update({ where: { vmId: vm.id }, data: { ...clearClaim } });
        await this.core.event(actor, 'pool.release', pool, 'ok', `${vm.name}: ${why}; reset to a spare`, performance.now() - t0);
        return { id: vm.id, name: vm.name, pool: pool.name, action: 'reset' as const, state: 'spare' };
      }
      await dropMember(this.core, vm.id);
      const what = m.templateId !== pool.templateId ? 'removed (the pool was pushed to a new template); a spare of the new template replaces it' : 'removed; a fresh spare replaces it';
      await this.core.event(actor, 'pool.release', pool, 'ok', `${vm.name}: ${why}; ${what}`, performance.now() - t0);
      return { id: vm.id, name: vm.name, pool: pool.name, action: 'delete' as const, state: 'removed' };
    } catch (e) {
      await dropMember(this.core, vm.id);
      await this.core.event(actor, 'pool.release', pool, 'error', `${vm.name}: ${(e as Error).message}; removed, a fresh spare replaces it`);
      throw e;
    } finally {
      this.keeper.releasing.delete(vm.id);
      this.emit(pool);
      void this.keeper.kick();
    }
  }

  async resize(ref: string, p: PoolResizeInput, ctx: OpContext = {}): Promise<PoolView> {
    const pool = await poolByRef(ref);
    if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; it cannot be resized.`);
    const size = p.size ?? pool.size;
    const spares = p.spares ?? Math.min(pool.spares, size);
    if (spares > size) throw new EngineError('invalid', 'The number of spares cannot be more than the pool size: lower --spares or raise --size.');
    if (size > pool.size) {
      const tpl = await this.core.templateByRef(pool.templateId);
      const cap = await forkCapacity(tpl);
      const members = await db().poolMember.count({ where: { poolId: pool.id } });
      if (size - members > cap.fits) throw new EngineError('insufficient', `A pool of ${size} children of "${tpl.name}" is above what admission control allows now (${cap.fits} more fit, bound by ${cap.binding ?? 'the limits'}); choose a smaller --size or free host memory.`);
    }
    const row = await db().pool.update({ where: { id: pool.id }, data: { size, spares } });
    await this.core.event(ctx.actor, 'pool.resize', row, 'ok', `size ${pool.size} -> ${size}, spares ${pool.spares} -> ${spares}`);
    this.emit(row);
    await this.keeper.kick();
    return this.view(row);
  }

  /** New spares come from `template` now; claimed children are replaced from it when released. */
  async push(ref: string, p: PoolPushInput, ctx: OpContext = {}): Promise<PoolView> {
    const pool = await poolByRef(ref);
    if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; it cannot be pushed.`);
    const tpl = await this.core.templateByRef(p.template);
    if (tpl.state !== 'frozen') throw new EngineError('conflict', `Template "${tpl.name}" is ${tpl.state}, not frozen; wait for its prepare to finish.`);
    if (tpl.id === pool.templateId) throw new EngineError('conflict', `Pool "${pool.name}" already runs template "${tpl.name}".`);
    const row = await db().pool.update({ where: { id: pool.id }, data: { templateId: tpl.id } });
    await this.core.event(ctx.actor, 'pool.push', row, 'ok', `template -> ${tpl.name}: spares roll now, claimed children when released`);
    this.emit(row, { push: tpl.id });
    await this.keeper.kick();
    return this.view(row);
  }

  /**
   * A push followed to its end, for an operation: it ends when every spare is of the new template and
   * the pool holds its spares again (claimed children roll later, when released; the result counts
   * them). Progress goes to the operation's task.
   */
  async pushAndRoll(ref: string, input: PoolPushInput, ctx: OpContext = {}, timeoutMs = 600_000): Promise<PoolView & { claimedOnOldTemplate: number }> {
    const pushed = await this.push(ref, input, ctx);
    const task = await this.core.task('pool-push', { id: pushed.id, name: pushed.name }, ctx);
    try {
      const end = Date.now() + timeoutMs;
      let said = '';
      for (;;) {
        const row = await db().pool.findUnique({ where: { id: pushed.id } });
        if (!row) throw new EngineError('conflict', `Pool "${pushed.name}" was removed while its spares were rolling to template "${pushed.template}".`);
        const v = await this.view(row);
        const oldSpares = v.members.filter((m) => m.state !== 'claimed' && m.templateId !== v.templateId).length;
        const want = Math.max(0, Math.min(v.spares, v.size - v.claimed));
        const msg = `${v.ready} of ${want} spare(s) ready on ${v.template ?? v.templateId}, ${oldSpares} of the old template left`;
        if (msg !== said) await task.progress('roll', want ? Math.min(1, v.ready / want) : 1, (said = msg));
        if (oldSpares === 0 && v.refilling === 0 && v.ready >= want) {
          const result = { ...v, claimedOnOldTemplate: v.members.filter((m) => m.templateId !== v.templateId).length };
          await task.done(result);
          return result;
        }
        if (Date.now() > end) {
          throw new EngineError('qemu', `The spares of pool "${v.name}" did not roll to template "${v.template}" within ${Math.round(timeoutMs / 60_000)} minutes${v.error ? ` (last error: ${v.error})` : ''}; look at the pool's events, then push again.`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } catch (e) {
      await task.fail(e);
      throw e;
    }
  }

  /** Removes the pool and every child of it (claimed ones too). */
  async remove(ref: string, ctx: OpContext = {}) {
    const pool = await poolByRef(ref);
    if (pool.state !== 'removing') await db().pool.update({ where: { id: pool.id }, data: { state: 'removing' } });
    this.emit(pool, { state: 'removing' });
    // forks and releases in flight finish first (the keeper throws away what they bring)
    const until = Date.now() + 300_000;
    while (Date.now() < until) {
      const members = await db().poolMember.findMany({ where: { poolId: pool.id } });
      if (this.keeper.comingFor(pool.id) === 0 && !members.some((m) => this.keeper.releasing.has(m.vmId))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const members = await db().poolMember.findMany({ where: { poolId: pool.id } });
    for (const m of members) await dropMember(this.core, m.vmId);
    await db().pool.delete({ where: { id: pool.id } });
    await this.core.event(ctx.actor, 'pool.remove', pool, 'ok', `${members.length} child(ren) removed`);
    this.emit(pool, { state: 'removed' });
    return { id: pool.id, name: pool.name, removed: true, children: members.length };
  }

  /** Waits until `pool` has `n` ready spares (tests, bench, demo). */
  async waitReady(ref: string, n: number, timeoutMs = 120_000): Promise<PoolView> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.get(ref);
      if (v.ready >= n && v.refilling === 0) return v;
      if (Date.now() > until) throw new EngineError('unavailable', `Pool "${v.name}" has ${v.ready} of ${n} spares ready after ${timeoutMs} ms${v.error ? ` (last refill error: ${v.error})` : ''}.`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Pool membership of VMs, for the lineage tree and VM pages. */
  async membership(): Promise<Map<string, { pool: string; state: string; claimedBy: string | null; label: string | null }>> {
    const members = await db().poolMember.findMany();
    const pools = new Map((await db().pool.findMany({ select: { id: true, name: true } })).map((p) => [p.id, p.name]));
    return new Map(members.map((m) => [m.vmId, { pool: pools.get(m.poolId) ?? m.poolId, state: m.state, claimedBy: m.claimedBy, label: m.label }]));
  }
}
