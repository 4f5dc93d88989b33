// Agent side of pools spread over hosts: this host's share of a cluster pool is an ordinary local
// pool (lib/engine/pools, its keeper forks the spares); the console sets the share through the job
// "pool-share@HOST" and claims/releases through the routes below.
import { z } from 'zod';
import { db } from '../db';
import type { Engine } from '../engine';
import { poolClaimSchema } from '../validations/pools';
import { poolShareSchema, type PoolShare } from '../validations/hosts';
import { actorOf, body } from './agent-server'; // one reading of a console's request for every agent route

type Handler = (m: RegExpExecArray, req: import('node:http').IncomingMessage) => Promise<unknown>;

/**
 * The job's work: make the local pool hold `spares` spares within `size` members (create, resize or
 * remove it). Idempotent: a retried or repeated job sets the same numbers, so it never makes a second
 * spare; the local keeper forks or trims to them.
 */
export async function applyShare(engine: Engine, raw: unknown): Promise<string> {
  const s: PoolShare = poolShareSchema.parse(raw);
  const pools = await engine.pools();
  const row = await db().pool.findUnique({ where: { name: s.local } });
  if (s.remove || s.size === 0) {
    if (!row) return 'absent';
    const claimed = await db().poolMember.count({ where: { poolId: row.id, state: 'claimed' } });
    if (s.remove || claimed === 0) {
      await pools.remove(row.id, { actor: `pool:${s.pool}` });
      return 'removed';
    }
    await pools.resize(row.id, { size: claimed, spares: 0 }, { actor: `pool:${s.pool}` });
    return 'emptied';
  }
  if (!row) {
    await pools.create({ name: s.local, template: s.templateId, size: s.size, spares: s.spares, onRelease: s.onRelease, ttl: s.ttlSec ?? undefined }, { actor: s.owner ?? `pool:${s.pool}` });
    return 'created';
  }
  // a push: roll to the new template once it is here; until its copy arrives this share keeps its
  // spares on the old one (the console sends the share again when the copy is ready)
  const here = await db().template.findFirst({ where: { id: s.templateId, state: 'frozen' }, select: { id: true } });
  if (row.templateId !== s.templateId && here) await pools.push(row.id, { template: s.templateId }, { actor: `pool:${s.pool}` });
  if (row.size !== s.size || row.spares !== s.spares) await pools.resize(row.id, { size: s.size, spares: s.spares }, { actor: `pool:${s.pool}` });
  return 'resized';
}

const localName = z.string().regex(/^[a-z0-9-]{1,63}$/);

/** Claim and release of this host's share (the console's fast path), and its view. */
export function poolRoutes(engine: Engine): [string, RegExp, Handler][] {
  return [
    ['GET', /^\/v1\/pools\/([a-z0-9-]{1,63})$/, async (m) => (await engine.pools()).get(localName.parse(m[1]))],
    [
      'POST',
      /^\/v1\/pools\/([a-z0-9-]{1,63})\/claim$/,
      async (m, req) => (await engine.pools()).claim(localName.parse(m[1]), { ...poolClaimSchema.parse(await body(req)), wait: undefined }, { actor: actorOf(req) }),
    ],
    ['POST', /^\/v1\/pool-members\/([A-Za-z0-9_-]{1,100})\/release$/, async (m, req) => (await engine.pools()).release(m[1], { actor: actorOf(req) })],
  ];
}
