// Admission control through the real Engine against a real template (TCG, tiny image): a tiny
// operator limit refuses a fork before anything is launched, the refusal says how many would fit,
// the estimate uses measured children, and a prepare the host cannot hold is refused with nothing left;
// quotas per user/token refuse a fork before anything is launched, and a pool's spares count against its owner.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPids, runEntries, setupEnv, teardownEnv } from './engine-env';
import { forkSchema, prepareSchema } from '../../lib/validations';
import { poolCreateSchema } from '../../lib/validations/pools';

const env = setupEnv('admission');
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
let limits: typeof import('../../lib/engine/limits');
let adm: typeof import('../../lib/engine/admission');

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => null,
    (x) => x,
  );
  expect(e, 'expected a refusal').toBeTruthy();
  expect(e.name).toBe('EngineError');
  expect(e.code).toBe('insufficient');
  return e as Error & { code: string };
}

/** What is on the host now: QEMU pids, run dir entries, VM/slot/template rows. */
async function snapshot() {
  return {
    pids: qemuPids(env.run).sort(),
    run: runEntries(env),
    templatesRun: fs.existsSync(`${env.run}/templates`) ? fs.readdirSync(`${env.run}/templates`).sort() : [],
    templatesHome: fs.existsSync(`${env.home}/templates`) ? fs.readdirSync(`${env.home}/templates`).sort() : [],
    vms: (await db().vm.findMany()).map((v) => `${v.name}:${v.state}:${v.pid}`).sort(),
    slots: (await db().slot.count()),
    templates: (await db().template.findMany()).map((t) => t.name).sort(),
    leases: await db().lease.count(),
  };
}

beforeAll(async () => {
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  db = dbm.db;
  limits = await import('../../lib/engine/limits');
  adm = await import('../../lib/engine/admission');
  const { Engine } = await import('../../lib/engine');
  E = Engine.get();
  await E.start();
  const t0 = performance.now();
  await E.prepare(prepareSchema.parse({ name: 'adm', memory: 256 }));
  console.log(`prepare: ${Math.round(performance.now() - t0)} ms`);
});

afterAll(async () => {
  // the pids the engine's own shutdown left running (teardown kills them; then this fails)
  expect(await teardownEnv(env), 'QEMU left running after the engine shut down').toEqual([]);
});

describe('admission control through the engine (real QEMU)', () => {
  it('refuses a fork past the per-template limit before launching anything', async () => {
    await limits.setLimits({ maxChildrenPerTemplate: 1 });
    const before = await snapshot();
    const e = await refusal(E.fork('adm', forkSchema.parse({ count: 2 }), { actor: 'tester' }));
    expect(e.message).toBe(
      'adm already has 0 children and the limit is 1 per template, so 2 children of adm cannot be forked: about 1 would fit. Fork fewer, remove children, or raise the limit in Settings.',
    );
    expect(await snapshot()).toEqual(before);
    // no fork task was started, and the refusal is in the event log with who asked
    expect(await db().task.count({ where: { kind: 'fork' } })).toBe(0);
    const ev = await db().event.findFirst({ where: { action: 'fork' }, orderBy: { id: 'desc' } });
    expect(ev).toMatchObject({ actor: 'tester', result: 'error', targetName: 'adm' });
    expect(ev!.message).toMatch(/^refused by admission control: adm already has 0 children/);
  });

  it('admits what fits, then refuses one more with "none would fit"', async () => {
    const f = await E.fork('adm', forkSchema.parse({ count: 1 }));
    expect(f.children).toHaveLength(1);
    const before = await snapshot();
    const e = await refusal(E.fork('adm', forkSchema.parse({ count: 1 })));
    expect(e.message).toMatch(/^adm already has 1 child and the limit is 1 per template, so 1 child of adm cannot be forked: none would fit now\./);
    expect(await snapshot()).toEqual(before);
    await limits.resetLimits();
  });

  it('estimates a child from the measured memory of its live siblings', async () => {
    const tpl = await db().template.findUniqueOrThrow({ where: { name: 'adm' } });
    const v = await adm.forkCapacity(tpl);
    expect(v.child.measured).toBe(true);
    expect(v.child.measuredOn).toBe(1);
    // a TCG child: QEMU + translation buffer + dirtied guest pages, well under its 256 MiB of RAM
    expect(v.child.privateMiB).toBeGreaterThan(5);
    expect(v.child.privateMiB).toBeLessThan(200);
    expect(v.fits).toBeGreaterThan(1);
    console.log(`measured child: ${JSON.stringify(v.child)}; fits now: ${v.fits} (${v.binding ?? v.constraints.reduce((a, b) => (b.fits < a.fits ? b : a)).name})`);
  });

  it('refuses a fork that would not fit in host memory, saying how many would', async () => {
    const tpl = await db().template.findUniqueOrThrow({ where: { name: 'adm' } });
    const cap = await adm.forkCapacity(tpl);
    const mem = cap.constraints.find((c) => c.name === 'memory')!;
    // leave room for exactly 3 children above the host reserve
    const avail = adm.hostFacts().memAvailableMiB;
    await limits.setLimits({ minFreeMemoryMiB: Math.floor(avail - 3.5 * mem.perChild) });
    const before = await snapshot();
    const e = await refusal(E.fork('adm', forkSchema.parse({ count: 300 })));
    expect(e.message).toMatch(/^Not enough memory for 300 children of adm \(256 MiB each, ~[\d.]+ MiB private per child measured on 1 live child/);
    expect(e.message).toMatch(/: about [2-4] would fit\. .* Fork fewer or free memory\.$/);
    expect(await snapshot()).toEqual(before);
    await limits.resetLimits();
  });

  it('does not let two concurrent forks both take the last places', async () => {
    const tpl = await db().template.findUniqueOrThrow({ where: { name: 'adm' } });
    const have = await db().vm.count({ where: { templateId: tpl.id } });
    await limits.setLimits({ maxChildrenPerTemplate: have + 2 });
    try {
      const results = await Promise.allSettled([E.fork('adm', forkSchema.parse({ count: 2, prefix: 'ca' })), E.fork('adm', forkSchema.parse({ count: 2, prefix: 'cb' }))]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0].reason.code).toBe('insufficient');
      expect(refused[0].reason.message).toMatch(/none would fit now/);
      expect(await db().vm.count({ where: { templateId: tpl.id } })).toBe(have + 2);
      expect(qemuPids(env.run)).toHaveLength(have + 2);
    } finally {
      await limits.resetLimits();
    }
  });

  it('refuses a prepare the host cannot hold, leaving no template behind', async () => {
    await limits.setLimits({ maxMemoryShare: 0.05 });
    const before = await snapshot();
    const e = await refusal(E.prepare(prepareSchema.parse({ name: 'huge', memory: 16384 })));
    expect(e.message).toMatch(/^(Not enough memory to prepare huge|Preparing huge would take VMs past 5% of host memory)/);
    expect(await snapshot()).toEqual(before);
    await limits.resetLimits();
  });
});

describe('quotas through the engine (real QEMU)', () => {
  it('refuse a fork past a user\'s child quota before launching anything; the children it admits are that user\'s', async () => {
    const q = await import('../../lib/engine/quotas');
    await q.setQuota('alice', { maxChildren: 1, maxMemoryMiB: null });
    const before = await snapshot();
    const e = await E.fork('adm', forkSchema.parse({ count: 2, prefix: 'qa' }), { actor: 'alice' }).then(() => null, (x) => x);
    expect(e?.code).toBe('quota');
    expect(e?.message).toBe('The quota of alice allows 1 children and 0 exist, so only 1 more fit (asked for 2): remove some children, or ask an admin to raise the quota.');
    expect(await snapshot()).toEqual(before);
    const f = await E.fork('adm', forkSchema.parse({ count: 1, prefix: 'qa' }), { actor: 'alice' });
    expect((await db().vm.findUniqueOrThrow({ where: { id: f.children[0].id } })).owner).toBe('alice');
    expect(await q.quotaUse('alice')).toEqual({ children: 1, memoryMiB: 256 });
    await expect(E.fork('adm', forkSchema.parse({ count: 1, prefix: 'qa' }), { actor: 'alice' })).rejects.toMatchObject({ code: 'quota' });
    await E.remove(f.children[0].id, { actor: 'alice' });
  });

  it('count a pool\'s spares against its owner: refused up front past the quota, and a refill the quota refuses is logged', async () => {
    const q = await import('../../lib/engine/quotas');
    await q.setQuota('carol', { maxChildren: 1, maxMemoryMiB: null });
    const pools = await E.pools();
    const before = await snapshot();
    await expect(pools.create(poolCreateSchema.parse({ name: 'qp', template: 'adm', size: 3, spares: 2 }), { actor: 'carol' })).rejects.toMatchObject({
      code: 'quota',
      message: 'The quota of carol leaves room for 1 more children, fewer than the 2 spares asked for: choose --spares 1 or less, remove some children, or ask an admin to raise the quota.',
    });
    expect(await snapshot()).toEqual(before);
    await pools.create(poolCreateSchema.parse({ name: 'qp', template: 'adm', size: 3, spares: 1 }), { actor: 'carol' });
    for (let i = 0; i < 240 && (await db().poolMember.count()) === 0; i++) await new Promise((r) => setTimeout(r, 500));
    const m = await db().poolMember.findFirstOrThrow();
    expect((await db().vm.findUniqueOrThrow({ where: { id: m.vmId } })).owner).toBe('carol');
    // claimed, the spare still counts: the keeper's refill for a new spare is refused by carol's quota
    await pools.claim('qp', {}, { actor: 'carol' });
    const refusedRefill = async () => db().event.findFirst({ where: { action: 'pool.refill', result: 'error', targetName: 'qp' } });
    for (let i = 0; i < 120 && !(await refusedRefill()); i++) await new Promise((r) => setTimeout(r, 500));
    expect((await refusedRefill())?.message).toBe('The quota of carol allows 1 children and 1 exist, so no more fit (asked for 1): remove some children, or ask an admin to raise the quota.');
    expect(await db().poolMember.count()).toBe(1);
    await pools.remove('qp', { actor: 'carol' });
  }, 240_000);
});
