// Quotas per user or token: set by an admin through REST, enforced by admission control for fork,
// prepare and start (concurrent requests count), one clear sentence when exceeded, in the event log.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostFacts } from '@/lib/engine/admission';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-quota-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb, db } = await import('@/lib/db');
const adm = await import('@/lib/engine/admission');
const { DEFAULT_LIMITS } = await import('@/lib/engine/limits');
const { quotaRefusal } = await import('@/lib/engine/quotas');
const { createToken } = await import('@/lib/auth/tokens');
const quotasRoute = await import('@/app/api/v1/quotas/route');

let admin = '';
let operator = '';
const put = (body: unknown, secret = admin) =>
  quotasRoute.PUT(new Request('http://console.test/api/v1/quotas', { method: 'PUT', headers: { host: 'console.test', authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }));

// a host with room for everything: only the quota can refuse
const facts: HostFacts = {
  memTotalMiB: 24_000,
  memAvailableMiB: 20_000,
  run: { path: '/dev/shm/x', freeMiB: 12_000, totalMiB: 12_000, inMemory: true },
  home: { path: '/var/x', freeMiB: 80_000, totalMiB: 100_000, inMemory: false },
};
const opts = (owner: string) => ({ actor: owner, owner, facts, limits: { ...DEFAULT_LIMITS }, usage: { vmMemoryMiB: 0 } });
const tmpl = { id: 't1', name: 'web', memoryMiB: 256 };
const fork = (count: number) => ({ kind: 'fork' as const, template: tmpl, count });
const refused = async (p: Promise<unknown>) => {
  const e = (await p.then(() => null, (x) => x)) as (Error & { code: string }) | null;
  expect(e, 'expected a refusal').toBeTruthy();
  expect(e!.code).toBe('quota');
  return e!.message;
};

beforeAll(async () => {
  await migrate();
  admin = (await createToken('boss', 'admin')).secret;
  operator = (await createToken('ops', 'operator')).secret;
  // alice has two running children of 256 MiB and a stopped persistent one of 512 MiB
  const vm = (id: string, state: string, memoryMiB: number) => ({ id, name: id, kind: 'child', state, image: 'tiny', memoryMiB, runDir: home, owner: 'alice' });
  await db().vm.createMany({ data: [vm('a1', 'running', 256), vm('a2', 'running', 256), vm('a3', 'stopped', 512)] });
}, 60_000);

afterAll(async () => {
  adm.clearReservations();
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('quotas', () => {
  it('are set by an admin only, with the shared schema judging the input', async () => {
    const op = await put({ name: 'alice', maxChildren: 1 }, operator);
    expect(op.status).toBe(403);
    const bad = await put({ name: 'alice', maxChildren: -1 });
    expect(bad.status).toBe(422);
    expect((await bad.json()).error).toContain('The child quota must be a whole number of at least 0');
    const ok = await put({ name: 'alice', maxChildren: 4, maxMemoryMiB: 768 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'alice', maxChildren: 4, maxMemoryMiB: 768, used: { children: 3, memoryMiB: 512 } });
    const list = await (await quotasRoute.GET(new Request('http://console.test/api/v1/quotas', { headers: { host: 'console.test', authorization: `Bearer ${admin}` } }))).json();
    expect(list.quotas).toEqual([{ name: 'alice', maxChildren: 4, maxMemoryMiB: 768, used: { children: 3, memoryMiB: 512 } }]);
    expect(await db().event.findFirst({ where: { action: 'quota.set' } })).toMatchObject({ actor: 'token:boss', targetName: 'alice', message: 'children 4, memory 768 MiB' });
  });

  it('refuse a fork past the child quota with one sentence, and log the refusal', async () => {
    const msg = await refused(adm.checkAdmission(fork(2), opts('alice')));
    expect(msg).toBe('The quota of alice allows 4 children and 3 exist, so only 1 more fit (asked for 2): remove some children, or ask an admin to raise the quota.');
    const ev = await db().event.findFirst({ where: { action: 'fork', result: 'error' }, orderBy: { id: 'desc' } });
    expect(ev?.message).toBe(`refused by quota: ${msg}`);
  });

  it('count admitted requests that have not finished yet (two forks at once cannot both take the last place)', async () => {
    // one child of 256 MiB fits both limits (512 + 256 = 768 MiB)
    const first = await adm.checkAdmission(fork(1), opts('alice'));
    expect(await refused(adm.checkAdmission(fork(1), opts('alice')))).toMatch(/so no more fit \(asked for 1\)/);
    first.release();
    (await adm.checkAdmission(fork(1), opts('alice'))).release();
  });

  it('refuse a start or a prepare past the memory quota (guest RAM of running VMs)', async () => {
    const msg = await refused(adm.checkAdmission({ kind: 'start', name: 'a3', memoryMiB: 512 }, opts('alice')));
    expect(msg).toBe('The quota of alice allows 768 MiB of guest memory in running VMs and 512 MiB run already, so 512 MiB more do not fit: stop or remove some VMs, or ask an admin to raise the quota.');
    await refused(adm.checkAdmission({ kind: 'prepare', name: 'big', memoryMiB: 1024 }, opts('alice')));
    (await adm.checkAdmission({ kind: 'prepare', name: 'small', memoryMiB: 256 }, opts('alice'))).release();
  });

  it('apply "*" to everyone without their own, never to the engine itself; both limits null remove one', async () => {
    expect((await put({ name: '*', maxChildren: 0 })).status).toBe(200);
    expect(await refused(adm.checkAdmission(fork(1), opts('token:ci')))).toMatch(/^The quota of token:ci allows 0 children/);
    (await adm.checkAdmission(fork(1), opts('system'))).release();
    (await adm.checkAdmission(fork(1), opts('pool:desk'))).release();
    expect(await (await put({ name: '*' })).json()).toMatchObject({ removed: true });
    (await adm.checkAdmission(fork(1), opts('token:ci'))).release();
  });

  it('say nothing when there is no quota or the request fits (pure)', () => {
    expect(quotaRefusal('x', null, { children: 100, memoryMiB: 1e6 }, { children: 5, memoryMiB: 5 })).toBeNull();
    expect(quotaRefusal('x', { maxChildren: 5, maxMemoryMiB: null }, { children: 4, memoryMiB: 1e6 }, { children: 1, memoryMiB: 256 })).toBeNull();
    expect(quotaRefusal('x', { maxChildren: 0, maxMemoryMiB: 0 }, { children: 9, memoryMiB: 9 }, { children: 0, memoryMiB: 0 })).toBeNull();
  });
});
