// Keeps every pool at its spares: forks replacements in the background (a bounded number of
// children at once, each fork through admission control), drops members whose VM crashed or
// vanished, rolls spares of an old template after a push, trims spares after a resize down, and
// releases claims whose TTL ran out. Runs on a 1 s tick and whenever something changes.
import { db } from '../../db';
import type { Core } from '../core';
import type { EngineEvent, PoolChange } from '../events';
import { fork } from '../fork';
import { dropMember, type PoolRow } from './store';
import { config } from '../../config';

/** Children forked for pools at once (all pools together): each start is CPU-bound under TCG on two cores. */
/** spares forked at once per keeper (INSTACLONE_POOL_REFILL_CONCURRENCY) */
export const refillConcurrency = () => config().poolRefillConcurrency;
/** After a failed refill, a pool waits this long before trying again (admission refusals, a broken template). */
const RETRY_MS = 5000;
const DEAD = new Set(['crashed', 'failed', 'stopped']);

export type ReleaseFn = (vmId: string, actor: string, reason: 'ttl') => Promise<unknown>;

export class Keeper {
  /** children being forked per pool */
  readonly inflight = new Map<string, number>();
  /** members being reset or replaced after a release (by VM id) */
  readonly releasing = new Set<string>();
  readonly lastError = new Map<string, string>();
  private retryAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private freeSlots = refillConcurrency();
  private slotWaiters: (() => void)[] = [];
  private stopped = true;
  private onEvent = (e: EngineEvent) => {
    if (e.type === 'vm' && (e.state === 'crashed' || e.state === 'removed' || e.state === 'failed')) this.kick();
  };

  constructor(
    private core: Core,
    private release: ReleaseFn,
    /** claims waiting on a pool (claim --wait): forked for even beyond the pool's spares */
    private demand: (poolId: string) => number = () => 0,
  ) {}

  async start() {
    if (!this.stopped) return;
    this.stopped = false;
    // a release cut short by a restart: the child is in an unknown state, so replace it
    for (const m of await db().poolMember.findMany({ where: { state: 'releasing' } })) await dropMember(this.core, m.vmId);
    this.core.events.on('event', this.onEvent);
    this.timer = setInterval(() => this.kick(), 1000);
    this.timer.unref();
    this.kick();
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.core.events.off('event', this.onEvent);
  }

  /** Runs a pass now (or right after the one running). Resolves when the pass is over. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass().catch((e) => console.error('instaclone: pool keeper', e));
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  comingFor(poolId: string): number {
    return this.inflight.get(poolId) ?? 0;
  }

  private emit(pool: { id: string; name: string }, extra: PoolChange = {}) {
    this.core.emit({ type: 'pool', id: pool.id, name: pool.name, ...extra });
  }

  private async pass() {
    const pools = await db().pool.findMany({ include: { members: true } });
    const ids = pools.flatMap((p) => p.members.map((m) => m.vmId));
    const vms = new Map((await db().vm.findMany({ where: { id: { in: ids } }, select: { id: true, name: true, state: true } })).map((v) => [v.id, v]));
    const now = Date.now();
    for (const pool of pools) {
      let changed = false;
      const live = [];
      for (const m of pool.members) {
        if (this.releasing.has(m.vmId)) {
          live.push(m);
          continue;
        }
        const vm = vms.get(m.vmId);
        if (!vm || DEAD.has(vm.state)) {
          // a spare (or claimed child) that crashed or was removed: replaced by the refill below
          await dropMember(this.core, m.vmId);
          await this.core.event('system', 'pool.replace', { id: pool.id, name: pool.name }, 'ok', `${vm?.name ?? m.vmId} was ${vm?.state ?? 'removed'} (${m.state}); a fresh spare replaces it`);
          changed = true;
          continue;
        }
        live.push(m);
      }
      if (pool.state !== 'active') continue;
      for (const m of live) {
        if (m.state === 'claimed' && m.expiresAt && m.expiresAt.getTime() <= now) {
          void this.release(m.vmId, 'system', 'ttl').catch(() => undefined);
        }
      }
      // spares of an older template (after a push) and spares beyond the pool's numbers go now
      const spares = live.filter((m) => m.state === 'spare');
      const stale = spares.filter((m) => m.templateId !== pool.templateId);
      const current = spares.filter((m) => m.templateId === pool.templateId);
      const nonSpare = live.length - spares.length;
      const keep = Math.max(0, Math.min(Math.max(pool.spares, this.demand(pool.id)), pool.size - nonSpare));
      const extra = current.slice(keep);
      for (const m of [...stale, ...extra]) {
        // only if still a spare: a claim may have taken it since this pass read the members
        const r = await db().poolMember.updateMany({ where: { vmId: m.vmId, state: 'spare' }, data: { state: 'releasing' } });
        if (r.count !== 1) continue;
        await dropMember(this.core, m.vmId);
        const why = stale.includes(m) ? 'rolled to the pushed template' : 'beyond the pool size or spares';
        await this.core.event('system', stale.includes(m) ? 'pool.roll' : 'pool.trim', { id: pool.id, name: pool.name }, 'ok', `${vms.get(m.vmId)?.name ?? m.vmId}: ${why}`);
        changed = true;
      }
      const total = nonSpare + Math.min(current.length, keep);
      const ready = Math.min(current.length, keep);
      const coming = this.comingFor(pool.id);
      const want = Math.max(pool.spares, this.demand(pool.id));
      const need = Math.min(want - ready - coming, pool.size - total - coming);
      if (need > 0 && coming === 0 && (this.retryAt.get(pool.id) ?? 0) <= now) void this.refill(pool, need);
      if (changed) this.emit(pool);
    }
  }

  private async slot(): Promise<void> {
    if (this.freeSlots > 0) {
      this.freeSlots--;
      return;
    }
    await new Promise<void>((r) => this.slotWaiters.push(r));
  }

  private freeSlot() {
    const w = this.slotWaiters.shift();
    if (w) w();
    else this.freeSlots++;
  }

  /** Forks up to refillConcurrency() spares for `pool` as one fork (one set of names, one admission check). */
  private async refill(pool: PoolRow, need: number) {
    const n = Math.min(need, refillConcurrency());
    this.inflight.set(pool.id, n);
    this.emit(pool, { refilling: n });
    const held: number[] = [];
    try {
      for (let i = 0; i < n; i++) {
        await this.slot();
        held.push(i);
      }
      const t0 = performance.now();
      const r = await fork(this.core, pool.templateId, { count: n, persistent: false, prefix: pool.name }, { actor: `pool:${pool.name}`, owner: pool.owner ?? undefined }); // spares count against the pool's owner
      const ms = performance.now() - t0;
      const now = await db().pool.findUnique({ where: { id: pool.id } });
      if (!now || now.state !== 'active' || now.templateId !== pool.templateId) {
        // removed or pushed meanwhile: these children are not wanted
        for (const c of r.children) await dropMember(this.core, c.id);
        return;
      }
      await db().poolMember.createMany({ data: r.children.map((c) => ({ vmId: c.id, poolId: pool.id, templateId: pool.templateId, state: 'spare' })) });
      // the refill rate is read back from these events (stats.ts), here and, over many hosts, by the console
      await this.core.event(`pool:${pool.name}`, 'pool.refill', { id: pool.id, name: pool.name }, 'ok', `spares=${n} forked in ${Math.round(ms)} ms`, Math.round(ms));
      this.lastError.delete(pool.id);
      this.retryAt.delete(pool.id);
    } catch (e) {
      const msg = (e as Error).message;
      this.lastError.set(pool.id, msg);
      this.retryAt.set(pool.id, Date.now() + RETRY_MS);
      await this.core.event('system', 'pool.refill', { id: pool.id, name: pool.name }, 'error', msg);
    } finally {
      for (const _ of held) this.freeSlot();
      this.inflight.delete(pool.id);
      this.emit(pool, { refilling: 0 });
      void this.kick();
    }
  }
}
