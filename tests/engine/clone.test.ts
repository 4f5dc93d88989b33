// The clone engine against real QEMU (TCG, tiny image): prepare, fork, isolation, reset,
// persistence, lineage, refusals and bad input — each leaving nothing behind.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEngineError, expectNoLeftovers, qemuPids, setupEnv, startEngine, teardownEnv, testAdmin } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('clone');
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
const figures: Record<string, unknown> = {};

const sh = (vm: string, cmd: string) => E.exec(vm, execSchema.parse({ command: ['/bin/sh', '-c', cmd], timeoutMs: 20_000 }));

beforeAll(async () => {
  ({ E, db } = await startEngine());
});

afterAll(async () => {
  console.log('FIGURES', JSON.stringify(figures, null, 1));
  // the pids the engine's own shutdown left running (teardown kills them; then this fails)
  expect(await teardownEnv(env), 'QEMU left running after the engine shut down').toEqual([]);
});

describe('clone engine (real QEMU)', () => {
  it('prepares a quiesced template with prelaunched slots', async () => {
    const r = await E.prepare(prepareSchema.parse({ name: 'web', warmup: ['echo warm > /tmp/warm', 'cat /proc/uptime'], slots: 3, prelaunch: true, quiesce: true }));
    expect(r).toMatchObject({ name: 'web', state: 'frozen', quiesced: true });
    expect(Object.keys(r.timings).sort()).toEqual(['bootMs', 'freezeMs', 'pauseMs', 'warmupMs']);
    expect(r.timings.pauseMs).toBeLessThanOrEqual(r.timings.freezeMs);
    const t = (await E.get('web')) as { files: Record<string, string>; timings: Record<string, number>; slots: { prelaunched: number } };
    for (const f of Object.values(t.files)) expect(fs.statSync(f).mode & 0o777).toBe(0o444);
    expect(t.slots.prelaunched).toBe(3);
    figures.prepare = t.timings;
    await expectNoLeftovers(env, E, db);
  });

  it('forks 5 children that each answer guest-exec, with distinct identities', async () => {
    const f = await E.fork('web', forkSchema.parse({ count: 5 }));
    figures.fork5 = f.timings;
    figures.fork5details = f.details;
    expect(f.children.map((c) => c.name)).toEqual(['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
    for (const c of f.children) {
      expect(c.state).toBe('running');
      const r = await sh(c.name, 'hostname; cat /tmp/warm');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`${c.name}\nwarm\n`);
    }
    for (const k of ['hostname', 'mac', 'ip', 'machineId', 'vmgenid'] as const) {
      expect(new Set(f.children.map((c) => c.identity[k])).size).toBe(5);
    }
    const ls = await E.list();
    expect(ls.vms.filter((v) => v.state === 'running')).toHaveLength(5);
    await expectNoLeftovers(env, E, db);
  });

  it('isolates files between siblings and new children; reset makes them disappear', async () => {
    await sh('web-1', 'echo secret > /tmp/only-1 && echo disk > /data/only-1 && sync');
    expect((await sh('web-1', 'cat /tmp/only-1 /data/only-1')).stdout).toBe('secret\ndisk\n');
    expect((await sh('web-2', 'ls /tmp/only-1 /data/only-1 2>&1; true')).stdout).toMatch(/No such file/);
    const f = await E.fork('web', forkSchema.parse({ count: 1 }));
    expect((await sh(f.children[0].name, 'cat /tmp/only-1 /data/only-1; echo rc=$?')).stdout).toMatch(/rc=1/);
    const t0 = performance.now();
    const r = (await E.reset('web-1')) as { state: string; timings: Record<string, number> };
    figures.resetMs = performance.now() - t0;
    figures.reset = r.timings;
    expect(r.state).toBe('running');
    expect((await sh('web-1', 'hostname; ls /tmp/only-1 /data/only-1 2>&1; cat /tmp/warm')).stdout).toMatch(/^web-1\n[\s\S]*No such file[\s\S]*warm\n$/);
    await E.stop(f.children[0].name);
    expect(await db().vm.findUnique({ where: { name: f.children[0].name } })).toBeNull();
    await expectNoLeftovers(env, E, db);
  });

  it('a persistent child keeps a /data file across stop/start', async () => {
    const f = await E.fork('web', { count: 1, persistent: true, prefix: 'keep' });
    const name = f.children[0].name;
    figures.forkPersistent = f.timings;
    await sh(name, 'echo kept > /data/kept.txt');
    const s = await E.stop(name);
    expect(s).toMatchObject({ state: 'stopped', pid: null });
    const t0 = performance.now();
    const st = (await E.startVm(name)) as { state: string; timings: Record<string, number> };
    figures.coldBootPersistentMs = performance.now() - t0;
    expect(st.state).toBe('running');
    const r = await sh(name, 'cat /data/kept.txt; hostname');
    expect(r.stdout).toBe(`kept\n${name}\n`);
    await E.remove(name, { force: true });
    await expectNoLeftovers(env, E, db);
  });

  it('lineage: a child prepared into a template, its child prepared again (depth 3)', async () => {
    await sh('web-2', 'echo gen2 > /tmp/gen');
    const t2 = await E.prepare(prepareSchema.parse({ name: 'web2', fromVm: 'web-2' }));
    expect(t2).toMatchObject({ state: 'frozen', quiesced: false });
    figures.prepareFromChild = t2.timings;
    // the source child keeps running
    expect((await sh('web-2', 'cat /tmp/gen')).stdout).toBe('gen2\n');
    // persistent children need a quiesced template
    await expectEngineError(E.fork('web2', { count: 1, persistent: true }), 'conflict', /--quiesce/);
    const c2 = (await E.fork('web2', forkSchema.parse({ count: 1 }))).children[0];
    expect((await sh(c2.name, 'cat /tmp/gen /tmp/warm; hostname')).stdout).toBe(`gen2\nwarm\n${c2.name}\n`);
    await sh(c2.name, 'echo gen3 > /tmp/gen3');
    await E.prepare(prepareSchema.parse({ name: 'web3', fromVm: c2.name, quiesce: true }));
    const c3 = (await E.fork('web3', forkSchema.parse({ count: 1 }))).children[0];
    expect((await sh(c3.name, 'cat /tmp/gen /tmp/gen3 /tmp/warm')).stdout).toBe('gen2\ngen3\nwarm\n');
    const ls = await E.list();
    const byName = Object.fromEntries(ls.templates.map((t) => [t.name, t]));
    expect(byName.web3.parentId).toBe(byName.web2.id);
    expect(byName.web2.parentId).toBe(byName.web.id);
    // deleting a template with children is refused unless forced
    await expectEngineError(E.remove('web2'), 'conflict', /--force/);
    await E.remove('web2', { force: true });
    expect((await E.list()).templates.map((t) => t.name)).toEqual(['web']);
    await expectNoLeftovers(env, E, db);
  });

  it('refuses bad fork input with one clear error and leaves nothing behind', async () => {
    // raw input is parsed once, by the service layer (the REST routes' and server actions' door)
    const { forkTemplate, prepareTemplate } = await import('../../lib/services/templates');
    for (const count of [0, -1, 2.5, 100000]) {
      await expectEngineError(forkTemplate(testAdmin, { ref: 'web', count }), 'invalid', /child count/i);
    }
    await expectEngineError(E.fork('nope', forkSchema.parse({ count: 1 })), 'not_found', /No template named "nope"/);
    await expectEngineError(forkTemplate(testAdmin, { ref: 'web', count: 1, prefix: 'a/b' }), 'invalid', /prefix/);
    for (const name of ['a/b', 'two words', '']) {
      await expectEngineError(prepareTemplate(testAdmin, { name }), 'invalid', /name/i);
    }
    await expectEngineError(E.prepare(prepareSchema.parse({ name: 'web' })), 'conflict', /already used/);
    // a template that is not frozen
    await db().template.create({ data: { id: 'tpl_fake', name: 'halfway', state: 'preparing', image: 'tiny', memoryMiB: 256, dir: '/nonexistent', ramPath: '/nonexistent/ram', statePath: '/nonexistent/s', diskPath: '/nonexistent/d' } });
    await expectEngineError(E.fork('halfway', forkSchema.parse({ count: 1 })), 'conflict', /not frozen/);
    await db().template.delete({ where: { id: 'tpl_fake' } });
    await expectNoLeftovers(env, E, db);
  });

  it('a failing warm-up command aborts the prepare and cleans everything', async () => {
    const before = fs.readdirSync(`${env.home}/templates`).sort();
    await expectEngineError(E.prepare(prepareSchema.parse({ name: 'broken', warmup: ['echo ok', 'echo oops >&2; exit 3'] })), 'invalid', /exit code 3.*oops/);
    expect((await E.list()).templates.map((t) => t.name)).not.toContain('broken');
    expect(fs.readdirSync(`${env.home}/templates`).sort()).toEqual(before);
    const task = await db().task.findFirst({ where: { targetName: 'broken' } });
    expect(task?.state).toBe('failed');
    await expectNoLeftovers(env, E, db);
  });

  it('a deleted RAM file gives a clear error and no half-made child', async () => {
    const t = await db().template.findUniqueOrThrow({ where: { name: 'web' } });
    const moved = `${t.ramPath}.moved`;
    fs.renameSync(t.ramPath, moved);
    try {
      await expectEngineError(E.fork('web', forkSchema.parse({ count: 2 })), 'conflict', /RAM file .* is missing/);
      await expectNoLeftovers(env, E, db);
    } finally {
      fs.renameSync(moved, t.ramPath);
    }
  });

  it('reports memory per VM and marks a killed QEMU crashed within 2 s', async () => {
    const s = await E.stats();
    expect(s.vms.length).toBeGreaterThan(0);
    figures.pssPerChildKiB = Math.round(s.totals.pssKiB / (s.vms.length + s.slots.length));
    figures.stats = s.totals;
    const v = await db().vm.findUniqueOrThrow({ where: { name: 'web-3' } });
    process.kill(v.pid!, 'SIGKILL');
    const t0 = Date.now();
    let st = '';
    while (Date.now() - t0 < 2500) {
      st = (await db().vm.findUniqueOrThrow({ where: { id: v.id } })).state;
      if (st === 'crashed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(st).toBe('crashed');
    figures.crashDetectMs = Date.now() - t0;
    await E.remove('web-3');
    await expectEngineError(E.remove('web'), 'conflict', /still has/);
    await E.remove('web', { force: true });
    expect((await E.list()).vms).toEqual([]);
    await expectNoLeftovers(env, E, db);
    expect(qemuPids(env.run)).toEqual([]);
  });
});
