// Idempotent fork on an agent: the caller's request id is written before the fork starts, so a
// retry (a console that timed out, a job run again) gets the first attempt's outcome, never a
// second set of children.
import { createHash } from 'node:crypto';
import { config } from '../config';
import { db } from '../db';
import type { Engine, ForkResult, LiveForkResult } from '../engine';
import { EngineError } from '../engine/errors';
import type { ForkInput } from '../validations';

type Result = ForkResult | LiveForkResult;

/**
 * The key a caller's request id is kept under: the id scoped to who sent it (a user, or one API token
 * by its id), so that principal B sending A's id forks anew: B never gets A's children (names, ports,
 * identity) and never blocks or answers A's retry. 41 characters, a valid request id itself (the
 * console sends it to the agent as the id).
 */
export function forkRequestKey(principal: string, requestId: string): string {
  return `k${createHash('sha256').update(`${principal}\n${requestId}`).digest('base64url').slice(0, 40)}`;
}
const inflight = new Map<string, Promise<Result>>();

/** After an agent restart: forks that were running when it died end as interrupted (their children were reconciled). */
export async function interruptStaleForkRequests(): Promise<number> {
  const r = await db().forkRequest.updateMany({ where: { state: 'running' }, data: { state: 'interrupted', endedAt: new Date(), error: 'The agent restarted during this fork.' } });
  return r.count;
}

/**
 * Removes finished fork requests that ended more than `keepS` seconds ago (INSTACLONE_FORK_REQUEST_KEEP_S,
 * a day by default): within that window a retry still gets the first outcome; after it the id is
 * forgotten. Running ones are never removed. Returns how many went.
 */
export async function pruneForkRequests(keepS = config().cluster.forkRequestKeepS, now = Date.now()): Promise<number> {
  const before = new Date(now - keepS * 1000);
  const r = await db().forkRequest.deleteMany({ where: { state: { not: 'running' }, endedAt: { lt: before } } });
  return r.count;
}

export async function idempotentFork(engine: Engine, key: string, template: string, input: ForkInput, actor: string): Promise<Result> {
  try {
    await db().forkRequest.create({ data: { key, templateId: template, state: 'running' } });
  } catch {
    return answer(key, template); // the id is known: its first outcome
  }
  const run = (async () => {
    try {
      const r = await engine.fork(template, input, { actor });
      await db().forkRequest.update({ where: { key }, data: { state: 'succeeded', result: JSON.stringify(r), endedAt: new Date() } });
      return r;
    } catch (e) {
      await db().forkRequest.update({ where: { key }, data: { state: 'failed', error: (e as Error).message, endedAt: new Date() } }).catch(() => undefined);
      throw e;
    }
  })();
  inflight.set(key, run);
  run.then(() => inflight.delete(key), () => inflight.delete(key));
  return run;
}

async function answer(key: string, template: string): Promise<Result> {
  const r = await db().forkRequest.findUnique({ where: { key } });
  // (the key is the console's scoped form of the caller's id: the sentences do not show it)
  if (!r) throw new EngineError('conflict', 'This fork request could not be recorded; try again with a new request id.');
  if (r.templateId !== template) throw new EngineError('conflict', 'This fork request id was already used for another template; send a new request id.');
  const running = inflight.get(key);
  if (running) return running;
  if (r.state === 'succeeded' && r.result) return JSON.parse(r.result) as Result;
  if (r.state === 'failed') throw new EngineError('conflict', `This fork request already failed: ${r.error}`);
  throw new EngineError('conflict', `This fork request was interrupted when its agent restarted (children it had made were reconciled); list the VMs, then fork again with a new request id.`);
}
