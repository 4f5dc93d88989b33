// Claims with a request id over many hosts. The agent that hands out the child records the id in
// its own schema (lib/engine/pools/claim-request.ts); the console sends a retry back to that host,
// which answers with the same child. One console at a time works on a given id (an advisory lock
// over all consoles), so two copies of one request can never claim on two different hosts.
import { claimKey } from '../engine/pools/claim-request';
import { hostRecording } from './dispatch';
import { clusterLockPg } from './pg';
import { agentActor } from './agent-server';

/** The key an agent records for `actor`'s request `requestId` (the agent sees the actor as agentActor makes it). */
export const clusterClaimKey = (actor: string, requestId: string) => claimKey(agentActor(actor), requestId);

/** Runs `fn` while holding the lock on claim request `key` (waits for another console's attempt on it). */
export async function withClaimLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const c = await clusterLockPg().connect();
  const lock = [`instaclone-claim`, key];
  try {
    await c.query(`SELECT pg_advisory_lock(hashtext($1), hashtext($2))`, lock);
    try {
      return await fn();
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, lock);
    }
  } finally {
    c.release();
  }
}

/** The host whose agent recorded claim request `key`, if any (lost hosts included: their schema stays readable). */
export const hostOfClaim = (key: string) => hostRecording('ClaimRequest', key);
