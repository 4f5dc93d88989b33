// Fork request ids (the idempotency of many hosts) on a real SQLite database: finished rows older
// than the window are pruned, running ones never; within the window a retry gets the first outcome
// without forking again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-forkreq-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, db, disconnectDb } = await import('@/lib/db');
const { forkRequestKey, idempotentFork, pruneForkRequests } = await import('@/lib/cluster/fork-request');
const { principalKey } = await import('@/lib/services/service');
const { requestIdSchema } = await import('@/lib/validations/hosts');
const { config } = await import('@/lib/config');
const { forkSchema } = await import('@/lib/validations');
const one = forkSchema.parse({ count: 1 });

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

const HOUR = 3600_000;
const env = (e: Record<string, string>) => e as NodeJS.ProcessEnv;

describe('fork request ids', () => {
  it('keeps a day by default, and the setting is checked', () => {
    expect(config().cluster.forkRequestKeepS).toBe(86_400);
    expect(config(env({ INSTACLONE_FORK_REQUEST_KEEP_S: '600' })).cluster.forkRequestKeepS).toBe(600);
    expect(() => config(env({ INSTACLONE_FORK_REQUEST_KEEP_S: '5' }))).toThrow(/INSTACLONE_FORK_REQUEST_KEEP_S must be/);
  });

  it('prunes finished requests older than the window, never running ones, and a retry inside it gets the first outcome', async () => {
    const now = Date.now();
    const result = { children: [{ id: 'vm_1', name: 'c-1' }], timings: { totalMs: 5, perChildMs: [5] } };
    const row = (key: string, state: string, endedAgoMs: number | null) => ({
      key,
      templateId: 'tpl_a',
      state,
      result: state === 'succeeded' ? JSON.stringify(result) : null,
      error: state === 'failed' ? 'no room' : null,
      createdAt: new Date(now - (endedAgoMs ?? 0) - 1000),
      endedAt: endedAgoMs === null ? null : new Date(now - endedAgoMs),
    });
    await db().forkRequest.createMany({
      data: [
        row('old-succeeded', 'succeeded', 25 * HOUR),
        row('old-failed', 'failed', 48 * HOUR),
        row('old-interrupted', 'interrupted', 30 * HOUR),
        row('recent-succeeded', 'succeeded', 2 * HOUR),
        row('still-running', 'running', null),
      ],
    });
    // a running request that began long ago (a slow fork under TCG) stays
    await db().forkRequest.update({ where: { key: 'still-running' }, data: { createdAt: new Date(now - 72 * HOUR) } });
    expect(await pruneForkRequests(86_400, now)).toBe(3);
    const left = (await db().forkRequest.findMany()).map((r) => r.key).sort();
    expect(left).toEqual(['recent-succeeded', 'still-running']);
    expect(await pruneForkRequests(86_400, now)).toBe(0); // idempotent

    // inside the window the first outcome answers: the engine is never asked to fork again
    const noEngine = { fork: () => Promise.reject(new Error('forked a second time')) } as unknown as Parameters<typeof idempotentFork>[0];
    expect(await idempotentFork(noEngine, 'recent-succeeded', 'tpl_a', one, 'test')).toEqual(result);
    // the same id for another template is refused, not forked
    await expect(idempotentFork(noEngine, 'recent-succeeded', 'tpl_b', one, 'test')).rejects.toThrow(/already used for another template/);

    // a shorter window prunes the recent one too; after that the id is free again (a new fork)
    expect(await pruneForkRequests(3600, now)).toBe(1);
    await expect(idempotentFork(noEngine, 'recent-succeeded', 'tpl_a', one, 'test')).rejects.toThrow(/forked a second time/);
    expect((await db().forkRequest.findUnique({ where: { key: 'recent-succeeded' } }))?.state).toBe('failed');
  });

  it('keeps each id under its caller: another principal reusing it forks anew and never gets the first outcome', async () => {
    const alice = principalKey({ kind: 'session', name: 'alice', role: 'operator' });
    const ci1 = principalKey({ kind: 'token', name: 'token:ci', role: 'operator', tokenId: 'tok_1' });
    const ci2 = principalKey({ kind: 'token', name: 'token:ci', role: 'operator', tokenId: 'tok_2' }); // token names repeat
    expect(new Set([alice, ci1, ci2, principalKey({ kind: 'token', name: 'alice', role: 'operator', tokenId: 'tok_3' })]).size).toBe(4);
    const ka = forkRequestKey(alice, 'job-42-abc');
    expect(forkRequestKey(alice, 'job-42-abc')).toBe(ka); // a retry finds its own
    expect(requestIdSchema.safeParse(ka).success).toBe(true); // what the console sends an agent
    const kb = forkRequestKey(ci1, 'job-42-abc');
    expect(kb).not.toBe(ka);
    expect(forkRequestKey(ci2, 'job-42-abc')).not.toBe(kb);

    const aliceResult = { children: [{ id: 'vm_alice', name: 'secret-1' }], timings: { totalMs: 5, perChildMs: [5] } };
    const engine = (r: unknown) => ({ fork: async () => r }) as unknown as Parameters<typeof idempotentFork>[0];
    expect(await idempotentFork(engine(aliceResult), ka, 'tpl_a', one, 'alice')).toEqual(aliceResult);
    // B sends the same id: a fork of B's own, not Alice's children
    const bResult = { children: [{ id: 'vm_b', name: 'b-1' }], timings: { totalMs: 5, perChildMs: [5] } };
    expect(await idempotentFork(engine(bResult), kb, 'tpl_a', one, 'token:ci')).toEqual(bResult);
    // and B's id for another template neither fails Alice's retry nor is refused for B
    expect(await idempotentFork(engine(null), ka, 'tpl_a', one, 'alice')).toEqual(aliceResult);
    expect(await idempotentFork(engine(bResult), forkRequestKey(ci2, 'job-42-abc'), 'tpl_b', one, 'token:ci')).toEqual(bResult);
  });
});
