// Pools over many hosts, console side. A cluster pool (public."ClusterPool") is split into shares:
// each host holding one runs an ordinary local pool named POOL-HOST that keeps its share of spares
// (lib/cluster/pool-agent.ts). The planner spreads the spares over ready hosts that hold the
// template and have room, moves shares off lost and draining hosts, and sends every change as the
// durable job "pool-share@HOST" (one job key per pool and host: a retry or a repeat sets the same
// numbers, never a second spare). A claim goes straight to an agent that holds a ready spare.
import { createHash, randomBytes } from 'node:crypto';
import { db } from '../db';
import { Engine } from '../engine';
import { EngineError } from '../engine/errors';
import type { EngineEvent, PoolChange } from '../engine/events';
import type { ClaimResult, Pools, PoolView } from '../engine/pools';
import { claimLatency, refillEntries, refillRate, type RefillEntry } from '../engine/pools/stats';
import { describeZodError } from '../validations';
import type { PoolShare } from '../validations/hosts';
import { poolClaimSchema, poolCreateSchema, poolPushSchema, poolResizeSchema, type PoolClaimInput } from '../validations/pools';
import { clusterClaimKey, hostOfClaim, withClaimLock } from './claim-request';
import { callAgent } from './client';
import { agents, locateTemplate, locateVm } from './dispatch';
import { replicaRefusal } from './facts';
import { hostContents, type HostRow } from './hosts';
import { addHostJob } from './jobs';
import { clusterPg, schemaIdent } from './pg';

const MiB = 1024 * 1024;
/** a host's share; `fenced`: it went lost holding spares, and gets none until those are removed */
type Share = { size: number; spares: number; fenced?: boolean };

export interface ClusterPoolRow {
  id: string;
  name: string;
  templateId: string;
  size: number;
  spares: number;
  onRelease: 'reset' | 'delete';
  ttlSec: number | null;
  host: string | null;
  owner: string | null;
  state: string;
  shares: Record<string, Share>;
}

/** The local pool that holds `host`'s share of cluster pool `pool` (a valid pool name, ≤ 63 characters). */
export function localPoolName(pool: string, host: string): string {
  const n = `${pool}-${host}`;
  if (n.length <= 63) return n;
  const h = createHash('sha256').update(n).digest('hex').slice(0, 8);
  return `${n.slice(0, 54).replace(/-+$/, '')}-${h}`;
}

function parse<T>(schema: { safeParse(x: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } }, input: unknown): T {
  const r = schema.safeParse(input ?? {});
  if (!r.success) throw new EngineError('invalid', describeZodError(r.error));
  return r.data;
}

function toRow(r: Record<string, unknown>): ClusterPoolRow {
  let shares: Record<string, Share> = {};
  try {
    shares = JSON.parse(String(r.shares ?? '{}'));
  } catch {
    /* a damaged column is rewritten by the next plan */
  }
  return { ...(r as unknown as ClusterPoolRow), shares };
}

export async function clusterPoolRows(): Promise<ClusterPoolRow[]> {
  const r = await clusterPg().query(`SELECT * FROM public."ClusterPool" ORDER BY "createdAt"`).catch(() => ({ rows: [] }));
  return r.rows.map(toRow);
}

export async function clusterPoolByRef(ref: string): Promise<ClusterPoolRow> {
  const r = await clusterPg().query(`SELECT * FROM public."ClusterPool" WHERE name = $1 OR id = $1`, [ref]);
  if (!r.rowCount) throw new EngineError('not_found', `No pool named "${ref}"; list pools with \`instaclone pool ls\`.`);
  return toRow(r.rows[0]);
}

interface LocalMember { vmId: string; name: string | null; state: string; vmState: string | null; templateId: string; claimedBy: string | null; label: string | null; claimedAt: Date | null; expiresAt: Date | null }
interface LocalShare { exists: boolean; size: number; spares: number; templateId: string | null; ready: number; claimed: number; members: LocalMember[] }

/** A host's local pool for this share, read from its schema (works while the host is lost). */
async function localShare(h: HostRow, pool: ClusterPoolRow): Promise<LocalShare> {
  const s = schemaIdent(h.schemaName);
  const none: LocalShare = { exists: false, size: 0, spares: 0, templateId: null, ready: 0, claimed: 0, members: [] };
  const p = await clusterPg().query(`SELECT id, size, spares, "templateId" FROM ${s}."Pool" WHERE name = $1`, [localPoolName(pool.name, h.name)]).catch(() => ({ rowCount: 0, rows: [] }));
  if (!p.rowCount) return none;
  const { id, size, spares, templateId } = p.rows[0];
  const m = await clusterPg().query(
    `SELECT m."vmId", m.state, m."templateId", m."claimedBy", m.label, m."claimedAt", m."expiresAt", v.name, v.state AS "vmState"
     FROM ${s}."PoolMember" m LEFT JOIN ${s}."Vm" v ON v.id = m."vmId" WHERE m."poolId" = $1 ORDER BY m."createdAt"`,
    [id],
  );
  const members = m.rows as LocalMember[];
  return {
    exists: true,
    size,
    spares,
    templateId,
    ready: members.filter((x) => x.state === 'spare' && x.vmState === 'running' && x.templateId === templateId).length,
    claimed: members.filter((x) => x.state === 'claimed').length,
    members,
  };
}

/**
 * The refills `h` logged for its share of `pool` in the last hour (by the local pool's name: a share
 * removed and made again keeps its history), lost hosts included: what they made still happened.
 */
async function hostRefills(h: HostRow, pool: ClusterPoolRow): Promise<RefillEntry[]> {
  const r = await clusterPg()
    .query(
      `SELECT at, message, "durationMs" FROM ${schemaIdent(h.schemaName)}."Event"
       WHERE action = 'pool.refill' AND result = 'ok' AND "targetName" = $1 AND at >= timezone('UTC', now()) - interval '1 hour'`,
      [localPoolName(pool.name, h.name)],
    )
    .catch(() => ({ rows: [] }));
  return refillEntries(r.rows);
}

/**
 * Where K spares go: round robin over the candidates that have room, in an order fixed per pool
 * (names rotated by the pool's id), so the answer does not flip while spares are being forked (a
 * fork in flight counts as load on its host before it is a member). Room counts this pool's own
 * spares as free: they are what is being placed.
 */
async function spread(poolId: string, k: number, hosts: HostRow[], memoryMiB: number, mine: Map<string, number>): Promise<Map<string, number>> {
  const per = memoryMiB * MiB;
  const room = new Map<string, number>();
  for (const h of hosts) room.set(h.name, Math.floor((h.memoryBytes - ((await hostContents(h)).vms - (mine.get(h.name) ?? 0)) * per) / per));
  const names = hosts.map((h) => h.name).sort();
  const turn = names.length ? parseInt(createHash('sha256').update(poolId).digest('hex').slice(0, 8), 16) % names.length : 0;
  const order = [...names.slice(turn), ...names.slice(0, turn)];
  const out = new Map<string, number>();
  for (let i = 0, miss = 0; i < k && miss < order.length; ) {
    const h = order[(i + miss) % order.length];
    if ((room.get(h) ?? 0) > (out.get(h) ?? 0)) {
      out.set(h, (out.get(h) ?? 0) + 1);
      i++;
    } else miss++;
  }
  return out;
}

/** Queues a copy of the template to `to` (no wait: a later plan places spares there once it is ready). */
async function queueReplica(tpl: { id: string; name: string; hosts: HostRow[] }, to: HostRow): Promise<string | null> {
  const from = tpl.hosts.find((h) => h.state !== 'lost');
  if (!from) return `every host holding template "${tpl.name}" is lost`;
  const refusal = replicaRefusal(from, to);
  if (refusal) return refusal;
  await addHostJob('replicate', to.name, { templateId: tpl.id, from: from.name }, `replicate:${tpl.id}:${to.name}`);
  return null;
}

const planErrors = new Map<string, string>();
const seen = new Map<string, string>();

/** A 'pool' event on this console's stream (the Pools page and the wall refetch on it). */
function notify(pool: { id: string; name: string }, extra: PoolChange = {}) {
  const ev: EngineEvent = { type: 'pool', id: pool.id, name: pool.name, ...extra };
  Engine.get().events.emit('event', ev);
}

/** One planning pass over one pool: decides each host's share and sends the changes. */
export async function planPool(pool: ClusterPoolRow): Promise<Record<string, Share>> {
  const all = await agents();
  const local = new Map<string, LocalShare>();
  for (const h of all) local.set(h.name, await localShare(h, pool));
  const claimed = (h: string) => local.get(h)?.claimed ?? 0;
  const want = new Map<string, number>();
  // a host lost with spares is fenced: it gets no share (nor claims) until the job waiting for it
  // has removed those stale spares, so a returning host never hands one out
  const fenced = new Set(Object.entries(pool.shares).filter(([, s]) => s.fenced).map(([h]) => h));
  for (const h of all) {
    const idle = local.get(h.name)!.members.some((m) => m.state !== 'claimed');
    if (h.state === 'lost' && idle) fenced.add(h.name);
    else if (h.state !== 'lost' && !idle) fenced.delete(h.name);
  }
  const tpl = await locateTemplate(pool.templateId).catch(() => null);
  if (pool.state === 'active') {
    const totalClaimed = all.reduce((n, h) => n + claimed(h.name), 0);
    const k = Math.max(0, Math.min(pool.spares, pool.size - totalClaimed));
    const eligible = all.filter((h) => h.state === 'ready' && !fenced.has(h.name) && (!pool.host || h.name === pool.host));
    const withReplica = eligible.filter((h) => tpl?.hosts.some((x) => x.name === h.name));
    const mine = new Map(all.map((h) => [h.name, local.get(h.name)!.members.filter((m) => m.state !== 'claimed').length]));
    planErrors.delete(pool.id);
    // a push: hosts holding members but not the new template get a copy of it, and keep their spares
    // (on the old template) until it is there, so the pool stays spread instead of piling on the holders
    const kept = new Map<string, number>();
    for (const h of tpl ? eligible.filter((x) => !withReplica.includes(x) && local.get(x.name)!.members.length > 0) : []) {
      const why = await queueReplica(tpl!, h);
      if (why) planErrors.set(pool.id, `Template "${tpl!.name}" cannot be copied to host "${h.name}": ${why}.`);
      else kept.set(h.name, Math.min(pool.shares[h.name]?.spares ?? 0, k - [...kept.values()].reduce((a, b) => a + b, 0)));
    }
    const placed = tpl ? await spread(pool.id, k - [...kept.values()].reduce((a, b) => a + b, 0), withReplica, tpl.memoryMiB, mine) : new Map<string, number>();
    for (const [h, n] of kept) if (n > 0) placed.set(h, n);
    const short = k - [...placed.values()].reduce((a, b) => a + b, 0);
    const pinned = pool.host ? all.find((h) => h.name === pool.host) : undefined;
    if (!tpl) planErrors.set(pool.id, `No ready copy of the pool's template ${pool.templateId} on any host.`);
    else if (pool.host && (!pinned || pinned.state !== 'ready' || fenced.has(pinned.name))) {
      // pinned: its spares never move to another host; say why none are being made
      const why = !pinned ? 'is not registered any more' : pinned.state === 'lost' ? `is lost (${pinned.lostReason ?? 'no heartbeat'})` : pinned.state === 'draining' ? 'is draining' : 'is back from lost and still removing its stale spares';
      planErrors.set(pool.id, `Pool "${pool.name}" is pinned to host "${pool.host}", which ${why}: its spares stay there and are not made elsewhere; bring the host back (\`instaclone hosts ready ${pool.host}\` for a drained one) or remove the pool and create it without --host.`);
    } else if (short > 0) {
      // the hosts holding the template lack room (or a pinned host lacks the template): copy it to the best other host
      const others = eligible.filter((h) => !withReplica.includes(h));
      const [to] = await spread(pool.id, 1, others, tpl.memoryMiB, mine).then((m) => others.filter((h) => m.has(h.name)));
      const why = to ? await queueReplica(tpl, to) : 'no other ready host has room';
      planErrors.set(pool.id, why ? `${short} spare(s) have no host: ${why}.` : `${short} spare(s) wait for template "${tpl.name}" to be copied to host "${to!.name}".`);
    }
    for (const [h, n] of placed) want.set(h, n);
    // a draining host keeps its spares until the others hold theirs (refill elsewhere first, then remove)
    const readyElsewhere = [...placed].reduce((n, [h, w]) => n + Math.min(w, local.get(h)!.ready), 0);
    for (const h of all) {
      if (h.state === 'draining' && !want.has(h.name) && readyElsewhere < k) want.set(h.name, pool.shares[h.name]?.spares ?? 0);
    }
  }
  const next: Record<string, Share> = {};
  for (const h of all) {
    const spares = want.get(h.name) ?? 0;
    const share = { size: claimed(h.name) + spares, spares };
    const l = local.get(h.name)!;
    const prev = pool.shares[h.name];
    if (share.size > 0 || l.exists || fenced.has(h.name)) next[h.name] = fenced.has(h.name) ? { ...share, fenced: true } : share;
    const changed = !prev || prev.size !== share.size || prev.spares !== share.spares;
    // a host that is not lost but whose local pool differs gets the job again (a lost one's waits in its queue)
    // (a pushed template counts once the host holds it: before, its agent could not roll to it)
    const pushed = l.exists && l.templateId !== pool.templateId && pool.state === 'active' && !!tpl?.hosts.some((x) => x.name === h.name);
    const drift = h.state !== 'lost' && (l.exists ? l.size !== share.size || l.spares !== share.spares || pushed : share.size > 0);
    if ((changed && (l.exists || prev || share.size > 0)) || drift) {
      const job: PoolShare = {
        pool: pool.name, local: localPoolName(pool.name, h.name), templateId: pool.templateId, size: share.size, spares: share.spares,
        onRelease: pool.onRelease, ttlSec: pool.ttlSec, owner: pool.owner, remove: pool.state !== 'active' || undefined,
      };
      await addHostJob('pool-share', h.name, job, `pool:${pool.id}:${h.name}`, 5);
    }
  }
  await clusterPg().query(`UPDATE public."ClusterPool" SET shares = $2 WHERE id = $1`, [pool.id, JSON.stringify(next)]);
  // the agents' keepers refill on their own hosts: tell this console's pages when the counts moved
  const sig = JSON.stringify([...local].map(([h, l]) => [h, l.ready, l.claimed, l.members.length, next[h]?.spares]));
  if (seen.get(pool.id) !== sig) {
    seen.set(pool.id, sig);
    notify(pool);
  }
  return next;
}

/** Runs `fn` holding the planner's lock (a session advisory lock: one planner over all consoles); null when `wait` is false and another holds it. */
async function withPlannerLock<T>(wait: boolean, fn: () => Promise<T>): Promise<T | null> {
  const c = await clusterPg().connect();
  try {
    if (wait) await c.query(`SELECT pg_advisory_lock(hashtext('instaclone-pool-planner'))`);
    else if (!(await c.query(`SELECT pg_try_advisory_lock(hashtext('instaclone-pool-planner')) AS ok`)).rows[0].ok) return null;
    try {
      return await fn();
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtext('instaclone-pool-planner'))`);
    }
  } finally {
    c.release();
  }
}

/** Every pool, one pass (skipped when another console's planner is running one). */
export async function planPools(): Promise<void> {
  await withPlannerLock(false, async () => {
    for (const p of await clusterPoolRows()) await planPool(p).catch((e) => planErrors.set(p.id, (e as Error).message));
  });
}

let planning: Promise<void> | null = null;
/** A pass now (claims, releases and changes call this; the watch calls it every few seconds). */
export function planSoon(): Promise<void> {
  planning ??= planPools().catch(() => undefined).finally(() => (planning = null));
  return planning;
}

export function startPoolPlanner(everyMs = 2000): NodeJS.Timeout {
  const t = setInterval(() => void planSoon(), everyMs);
  t.unref();
  return t;
}

// ---- the pool actions, as the services call them when agents are in use ----

export async function clusterCreate(input: unknown, actor: string): Promise<PoolView & { hosts: HostShareView[] }> {
  const p = parse(poolCreateSchema, input);
  const taken = await clusterPg().query(`SELECT 1 FROM public."ClusterPool" WHERE name = $1`, [p.name]);
  if (taken.rowCount) throw new EngineError('conflict', `A pool named "${p.name}" already exists; choose another name or remove it first.`);
  const tpl = await locateTemplate(p.template);
  if (p.host) {
    const h = (await agents()).find((x) => x.name === p.host);
    if (!h) throw new EngineError('not_found', `No host named "${p.host}"; list them with \`instaclone hosts\`.`);
    if (h.state !== 'ready') throw new EngineError('conflict', `Host "${p.host}" is ${h.state}${h.lostReason ? ` (${h.lostReason})` : ''}: it takes no new spares; pick another host.`);
    const from = tpl.hosts.find((x) => x.state !== 'lost');
    const refusal = from && !tpl.hosts.some((x) => x.name === h.name) ? replicaRefusal(from, h) : null;
    if (refusal) throw new EngineError('conflict', refusal);
  }
  const id = `pool-${randomBytes(6).toString('hex')}`;
  await clusterPg().query(
    `INSERT INTO public."ClusterPool" (id, name, "templateId", size, spares, "onRelease", "ttlSec", host, owner, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active')`,
    [id, p.name, tpl.id, p.size, p.spares, p.onRelease, p.ttl ?? null, p.host ?? null, actor],
  );
  await planSoon();
  return clusterView(await clusterPoolByRef(id));
}

export type HostShareView = NonNullable<PoolView['hosts']>[number];
type MemberView = PoolView['members'][number] & { host: string };

/** A pool's view over its hosts: counts summed, every member with its host. */
export async function clusterView(pool: ClusterPoolRow): Promise<PoolView & { hosts: HostShareView[]; members: MemberView[] }> {
  const hosts: HostShareView[] = [];
  const members: MemberView[] = [];
  let refilling = 0;
  const refills: RefillEntry[] = [];
  for (const h of await agents()) {
    refills.push(...(await hostRefills(h, pool)));
    const l = await localShare(h, pool);
    if (!l.exists && !pool.shares[h.name]) continue;
    hosts.push({ host: h.name, state: h.state, spares: pool.shares[h.name]?.spares ?? 0, ready: h.state === 'lost' ? 0 : l.ready, claimed: l.claimed });
    if (h.state !== 'lost') refilling += Math.max(0, Math.min(l.spares, l.size - l.claimed) - l.ready);
    for (const m of l.members) {
      members.push({
        vmId: m.vmId, name: m.name, state: h.state === 'lost' ? 'lost' : m.state, templateId: m.templateId, claimedBy: m.claimedBy, label: m.label,
        claimedAt: m.claimedAt?.toISOString() ?? null, expiresAt: m.expiresAt?.toISOString() ?? null, host: h.name,
      });
    }
  }
  const tplName = await locateTemplate(pool.templateId).then((t) => t.name, () => null);
  const onOld = members.filter((m) => m.templateId !== pool.templateId).length;
  const lat = await claimLatency(pool.id);
  return {
    id: pool.id, name: pool.name, templateId: pool.templateId, template: tplName, state: pool.state, size: pool.size, spares: pool.spares,
    ready: hosts.reduce((n, h) => n + h.ready, 0),
    claimed: hosts.reduce((n, h) => n + h.claimed, 0),
    refilling,
    onRelease: pool.onRelease, ttlSec: pool.ttlSec,
    push: onOld > 0 ? { templateId: pool.templateId, done: members.length - onOld, total: members.length } : null,
    claimLatencyMs: { p50: lat.p50, p95: lat.p95, n: lat.n },
    claims: lat.total,
    // each agent logs its refills in its own schema: the pool's rate is theirs added up
    refill: refillRate(refills),
    error: planErrors.get(pool.id) ?? null,
    members,
    hosts,
  };
}

export async function clusterList() {
  return { pools: await Promise.all((await clusterPoolRows()).map(clusterView)) };
}

/** Takes a ready spare from the host holding the most (the agent's claim is one atomic update: no spare goes out twice). */
export async function clusterClaim(ref: string, input: unknown, actor: string): Promise<ClaimResult & { host: string }> {
  const p = parse(poolClaimSchema, input);
  if (!p.requestId) return claimAnywhere(ref, p, actor);
  const { requestId } = p;
  const key = clusterClaimKey(actor, requestId);
  return withClaimLock(key, async () => {
    const prior = await hostOfClaim(key);
    if (!prior) return claimAnywhere(ref, p, actor);
    // a retry: the host that recorded this id answers with the child it handed out (or says why not)
    if (prior.state === 'lost') {
      throw new EngineError('unavailable', `Claim request ${requestId} was answered by host "${prior.name}", which is lost (${prior.lostReason}): its child is lost with it; claim again with a new request id.`);
    }
    const t0 = performance.now();
    const pool = await clusterPoolByRef(ref);
    const r = await callAgent<ClaimResult>(prior, 'POST', `/v1/pools/${localPoolName(pool.name, prior.name)}/claim`, { label: p.label, requestId }, actor);
    return { ...r, pool: pool.name, claimMs: Math.round((performance.now() - t0) * 1000) / 1000, host: prior.name };
  });
}

async function claimAnywhere(ref: string, p: PoolClaimInput, actor: string): Promise<ClaimResult & { host: string }> {
  const t0 = performance.now();
  const deadline = Date.now() + (p.wait ?? 0) * 1000;
  for (;;) {
    const pool = await clusterPoolByRef(ref);
    if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; claim from another pool.`);
    // only hosts that hold a share: a host back from lost keeps stale spares until its job removes them
    const cands = (await agents()).filter((h) => h.state !== 'lost' && (pool.shares[h.name]?.spares ?? 0) > 0);
    const counted = await Promise.all(cands.map(async (h) => ({ h, ready: (await localShare(h, pool)).ready })));
    for (const { h } of counted.filter((c) => c.ready > 0).sort((a, b) => b.ready - a.ready)) {
      try {
        const r = await callAgent<ClaimResult>(h, 'POST', `/v1/pools/${localPoolName(pool.name, h.name)}/claim`, { label: p.label, requestId: p.requestId }, actor);
        void planSoon(); // the refill: this host's share is sent again
        const claimMs = Math.round((performance.now() - t0) * 1000) / 1000;
        // the console's own log: claim counts and latency (console to agent and back) for the pool's view and the wall
        void db().event.create({ data: { actor, action: 'pool.claim', targetId: pool.id, targetName: pool.name, result: 'ok', message: `claimMs=${claimMs} ${r.vm.name} on ${h.name}${p.label ? ` label=${p.label}` : ''}`, durationMs: Math.round(claimMs) } }).catch(() => undefined);
        notify(pool, { claimed: r.vm.id, claimMs });
        return { ...r, pool: pool.name, claimMs, host: h.name };
      } catch (e) {
        if (!(e instanceof EngineError && (e.code === 'unavailable' || e.code === 'not_found'))) throw e;
        // the host may have handed out a child whose answer was lost: never claim a second one elsewhere
        if (p.requestId && (await hostOfClaim(clusterClaimKey(actor, p.requestId)))) throw e;
      }
    }
    if (Date.now() >= deadline) {
      const where = cands.length ? `${counted.map((c) => `${c.h.name}: ${c.ready}`).join(', ')} ready` : 'no host holds a share yet';
      throw new EngineError('unavailable', `Pool "${pool.name}" has no spare ready (${where}${planErrors.get(pool.id) ? `; ${planErrors.get(pool.id)}` : ''}); try again in a moment or claim with --wait SECONDS.`);
    }
    void planSoon();
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `pool release VM` for a child on an agent; null when no agent holds the VM. */
type Released = Awaited<ReturnType<Pools['release']>>;
export async function clusterRelease(vmRef: string, actor: string): Promise<(Released & { host: string }) | null> {
  const h = await locateVm(vmRef);
  if (!h) return null;
  if (h.state === 'lost') throw new EngineError('unavailable', `VM "${vmRef}" is on host "${h.name}", which is lost (${h.lostReason}); wait for its agent to come back.`);
  const r = await clusterPg().query(`SELECT id FROM ${schemaIdent(h.schemaName)}."Vm" WHERE id = $1 OR name = $1`, [vmRef]);
  const out = await callAgent<Released>(h, 'POST', `/v1/pool-members/${r.rows[0].id}/release`, {}, actor);
  void planSoon();
  const pool = await clusterPoolByRef(out.pool).catch(() => null);
  if (pool) notify(pool, { releasing: out.id });
  return { ...out, host: h.name };
}

export async function clusterResize(ref: string, input: unknown) {
  const p = parse(poolResizeSchema, input);
  const pool = await clusterPoolByRef(ref);
  if (pool.state !== 'active') throw new EngineError('conflict', `Pool "${pool.name}" is being removed; it cannot be resized.`);
  const size = p.size ?? pool.size;
  const spares = p.spares ?? Math.min(pool.spares, size);
  if (spares > size) throw new EngineError('invalid', 'The number of spares cannot be more than the pool size: lower --spares or raise --size.');
  await clusterPg().query(`UPDATE public."ClusterPool" SET size = $2, spares = $3 WHERE id = $1`, [pool.id, size, spares]);
  await planSoon();
  return clusterView(await clusterPoolByRef(pool.id));
}

export async function clusterPush(ref: string, input: unknown) {
  const p = parse(poolPushSchema, input);
  const pool = await clusterPoolByRef(ref);
  const tpl = await locateTemplate(p.template);
  if (tpl.id === pool.templateId) throw new EngineError('conflict', `Pool "${pool.name}" already runs template "${tpl.name}".`);
  await clusterPg().query(`UPDATE public."ClusterPool" SET "templateId" = $2 WHERE id = $1`, [pool.id, tpl.id]);
  await planSoon();
  return clusterView(await clusterPoolByRef(pool.id));
}

/** Removes the pool everywhere: a job per host (a lost host's waits for its return); waits for the reachable ones. */
export async function clusterRemove(ref: string, timeoutMs = 300_000) {
  let pool = await clusterPoolByRef(ref);
  // under the planner's lock: no pass that read the pool as active can send a share after this
  await withPlannerLock(true, () => clusterPg().query(`UPDATE public."ClusterPool" SET state = 'removing' WHERE id = $1`, [pool.id]));
  pool = await clusterPoolByRef(pool.id);
  const before = (await clusterView(pool)).members.length;
  for (const h of await agents()) {
    if (!pool.shares[h.name] && !(await localShare(h, pool)).exists) continue;
    const job: PoolShare = { pool: pool.name, local: localPoolName(pool.name, h.name), templateId: pool.templateId, size: 0, spares: 0, onRelease: pool.onRelease, ttlSec: pool.ttlSec, owner: pool.owner, remove: true };
    await addHostJob('pool-share', h.name, job, `pool:${pool.id}:${h.name}`, 5);
  }
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = [];
    for (const h of await agents()) if (h.state !== 'lost' && (await localShare(h, pool)).exists) left.push(h.name);
    if (!left.length) break;
    if (Date.now() > until) throw new EngineError('unavailable', `Pool "${pool.name}" is still held by host(s) ${left.join(', ')}; their removal jobs stay queued: check that their agents run.`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await clusterPg().query(`DELETE FROM public."ClusterPool" WHERE id = $1`, [pool.id]);
  notify(pool, { state: 'removed' });
  return { id: pool.id, name: pool.name, removed: true, children: before };
}
