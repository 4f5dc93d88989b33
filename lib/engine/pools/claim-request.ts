// Idempotent claims: a claim may carry a caller-chosen request id. Its row is written before the
// spare is taken and the take stamps the member with the same key in its one atomic update, so a
// retry (an answer lost on the way, a console that timed out) gets the child the first attempt
// took, never a second one. The key holds the principal: one user's id never finds another's child.
import { config } from '../../config';
import { db } from '../../db';
import { EngineError } from '../errors';
import type { ClaimResult } from './index';

/** "REQUESTID@PRINCIPAL": a request id has no "@" (requestIdSchema), so the key cannot be forged across principals. */
export const claimKey = (principal: string, requestId: string) => `${requestId}@${principal}`;

const inflight = new Map<string, Promise<ClaimResult>>();
const PRUNE_EVERY_MS = 60_000;
let prunedAt = 0;

/** Removes answered claim requests older than `keepS` (INSTACLONE_FORK_REQUEST_KEEP_S, a day by default). */
export async function pruneClaimRequests(keepS = config().cluster.forkRequestKeepS, now = Date.now()): Promise<number> {
  const r = await db().claimRequest.deleteMany({ where: { state: { not: 'running' }, endedAt: { lt: new Date(now - keepS * 1000) } } });
  return r.count;
}

export interface ClaimAttempt {
  principal: string;
  requestId: string;
  poolId: string;
  poolName: string;
  /** takes a spare, stamping its member with `key` */
  take: (key: string) => Promise<ClaimResult>;
  /** the child a crashed attempt stamped with `key` and left claimed, as a claim's answer */
  stamped: (key: string) => Promise<ClaimResult | null>;
}

export async function idempotentClaim(a: ClaimAttempt): Promise<ClaimResult> {
  if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
    prunedAt = Date.now();
    void pruneClaimRequests().catch(() => undefined); // the table stays bounded
  }
  const key = claimKey(a.principal, a.requestId);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await db().claimRequest.create({ data: { key, principal: a.principal, requestId: a.requestId, poolId: a.poolId, state: 'running' } });
    } catch {
      const prior = await answer(key, a);
      if (prior) return prior;
      continue; // the earlier attempt made no child: its row is gone, this one takes the id
    }
    const run = (async () => {
      try {
        const r = { ...(await a.take(key)), requestId: a.requestId };
        await db().claimRequest.update({ where: { key }, data: { state: 'succeeded', vmId: r.vm.id, result: JSON.stringify(r), endedAt: new Date() } });
        return r;
      } catch (e) {
        // no child was taken: the id is free again, so the caller's retry claims afresh
        await db().claimRequest.deleteMany({ where: { key, state: 'running' } }).catch(() => undefined);
        throw e;
      }
    })();
    inflight.set(key, run);
    run.then(() => inflight.delete(key), () => inflight.delete(key));
    return run;
  }
  throw new EngineError('conflict', `Claim request ${a.requestId} could not be recorded; try again with a new request id.`);
}

/** The first attempt's child, a refusal, or null when the id is free again (the earlier attempt took nothing). */
async function answer(key: string, a: ClaimAttempt): Promise<ClaimResult | null> {
  const running = inflight.get(key);
  if (running) return running.then((r) => replayed(r, a), () => null);
  const r = await db().claimRequest.findUnique({ where: { key } });
  if (!r) return null;
  if (r.poolId !== a.poolId) throw new EngineError('conflict', `Claim request id ${a.requestId} was already used on another pool; send a new request id.`);
  if (r.state === 'running') {
    // this process died between recording the id and answering: the take stamped its child, or took none
    const child = await a.stamped(key);
    if (child) {
      const out = { ...child, requestId: a.requestId };
      await db().claimRequest.update({ where: { key }, data: { state: 'succeeded', vmId: out.vm.id, result: JSON.stringify(out), endedAt: new Date() } });
      return replayed(out, a);
    }
    await db().claimRequest.deleteMany({ where: { key, state: 'running' } });
    return null;
  }
  const first = JSON.parse(r.result ?? '{}') as ClaimResult;
  const still = r.vmId ? await db().poolMember.findFirst({ where: { vmId: r.vmId, state: 'claimed', claimKey: key } }) : null;
  if (!still) {
    throw new EngineError('conflict', `Claim request ${a.requestId} was answered with VM "${first.vm?.name ?? r.vmId}", which has been released since; claim again with a new request id.`);
  }
  return replayed(first, a);
}

function replayed(r: ClaimResult, a: ClaimAttempt): ClaimResult {
  return { ...r, pool: a.poolName, requestId: a.requestId, replayed: true };
}
