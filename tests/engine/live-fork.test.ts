// Live fork (issue 13) against real QEMU: a running child is forked into 3 children and carries on
// as itself; the pause is measured as the engine sees it and as a 10 ms ticker in the guest shows it.
// QEMU runs as root here (INSTACLONE_QEMU_USER=''): QEMU 7.2 needs userfaultfd for background-snapshot
// and an unprivileged QEMU user gets none while vm.unprivileged_userfaultfd=0 (the fallback path,
// stop-and-copy, is what the non-quiesced fork below takes anyway).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeftovers, qemuPids, setupEnv, startEngine, teardownEnv } from './engine-env';
import { listenTicks, maxGap, TICKER_CMD } from '../../bench/lib/ticker';
import { execSchema, forkSchema, liveForkSchema, prepareSchema } from '../../lib/validations';

process.env.INSTACLONE_QEMU_USER = '';
const env = setupEnv('livefork');
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
const figures: Record<string, unknown> = {};

const sh = (vm: string, cmd: string) => E.exec(vm, execSchema.parse({ command: ['/bin/sh', '-c', cmd], timeoutMs: 30_000 }));
const IDENT = 'hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0 | awk \'{print $4}\'';
beforeAll(async () => {
  ({ E, db } = await startEngine());
  await E.prepare(prepareSchema.parse({ name: 'web', warmup: ['echo warm > /tmp/warm'] }));
  await E.fork('web', forkSchema.parse({ count: 1, prefix: 'src' }));
}, 240_000);

afterAll(async () => {
  console.log('FIGURES', JSON.stringify(figures, null, 1));
  await teardownEnv(env);
  expect(qemuPids(env.run)).toEqual([]);
});

describe('live fork (real QEMU)', () => {
  it('a persistent live fork without quiesce is refused with one sentence, and leaves nothing', async () => {
    const err = await E.fork('src-1', { count: 1, persistent: true }).then(() => null, (e) => e);
    expect(err?.code).toBe('conflict');
    expect(err.message).toMatch(/persistent live fork of "src-1" needs a quiesced disk: add --quiesce/);
    expect((await E.list()).templates.map((t) => t.name)).toEqual(['web']);
    await expectNoLeftovers(env, E, db);
  });

  it('forks a running child into 3: the source carries on as itself, each child has its state and its own identity', async () => {
    const src = (await db().vm.findUniqueOrThrow({ where: { name: 'src-1' } }))!;
    await sh('src-1', 'echo marker-$$ > /tmp/marker');
    const marker = (await sh('src-1', 'cat /tmp/marker')).stdout;
    const identBefore = (await sh('src-1', IDENT)).stdout;
    const upBefore = Number((await sh('src-1', 'cut -d" " -f1 /proc/uptime')).stdout);
    const { procMemory } = await import('../../lib/engine/metrics');
    const webRam = (await db().template.findUniqueOrThrow({ where: { name: 'web' } })).ramPath;
    const allocMiB = (f: string) => Math.round((fs.statSync(f).blocks * 512) / 2 ** 20);
    const before = { sourceKiB: procMemory(src.pid!), webRamAllocMiB: allocMiB(webRam) };
    // a ticker in the source: one line on the serial port every 10 ms
    const ticks = listenTicks(`${src.runDir}/serial.sock`);
    await sh('src-1', TICKER_CMD);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    // the snapshot window: from just before the source's migration starts until its RAM is copied
    const win: Record<string, number> = {};
    const steps: [string, number][] = [];
    const onProgress = (p: { message?: string }) => {
      steps.push([p.message ?? '', Math.round(performance.now() - t0)]);
      if (/while it runs|pausing/.test(p.message ?? '')) win.snap = performance.now();
      if (/checkpoint/.test(p.message ?? '')) win.ckpt = performance.now();
    };
    const r = (await E.fork('src-1', liveForkSchema.parse({ count: 3, quiesce: true }), { onProgress })) as import('../../lib/engine').LiveForkResult;
    const t1 = performance.now();
    await new Promise((res) => setTimeout(res, 500));
    ticks.close();
    const baseline = maxGap(ticks.stamps, t0 - 1000, t0);
    figures.quiescedSteps = steps.slice(0, 8);
    figures.quiesced = { pause: r.pause, snapshotMs: r.snapshotMs, forkTotalMs: r.timings.totalMs, guestMaxGapMs: Math.round(maxGap(ticks.stamps, t0, t1)), guestMaxGapInSnapshotMs: Math.round(maxGap(ticks.stamps, win.snap, win.ckpt + 50)), snapshotWindowMs: Math.round(win.ckpt - win.snap), guestBaselineGapMs: Math.round(baseline), ticks: ticks.stamps.length };
    expect(ticks.stamps.length).toBeGreaterThan(20); // the ticker ran
    expect(r.pause.pauseMs).toBeGreaterThan(0);
    expect(r.template.name).toBe('src-1-at-1');
    expect(r.children.map((c) => c.name)).toEqual(['src-1-1', 'src-1-2', 'src-1-3']);

    // the source: same process, identity, marker; its uptime went on
    const after = (await db().vm.findUniqueOrThrow({ where: { id: src.id } }))!;
    expect(after).toMatchObject({ state: 'running', pid: src.pid, templateId: src.templateId });
    expect((await sh('src-1', IDENT)).stdout).toBe(identBefore);
    expect((await sh('src-1', 'cat /tmp/marker')).stdout).toBe(marker);
    expect(Number((await sh('src-1', 'cut -d" " -f1 /proc/uptime')).stdout)).toBeGreaterThan(upBefore);

    // the children: the marker, and an identity of their own, read back from inside each guest
    const seen = new Set([identBefore]);
    for (const c of r.children) {
      expect((await sh(c.name, 'cat /tmp/marker /tmp/warm')).stdout).toBe(`${marker}warm\n`);
      const id = (await sh(c.name, IDENT)).stdout;
      expect(id.split('\n')[0]).toBe(c.name);
      for (const line of id.trim().split('\n')) for (const other of seen) expect(other.split('\n')).not.toContain(line);
      seen.add(id);
    }

    // what the source writes after the fork stays its own
    await sh('src-1', 'echo later > /tmp/after; echo later > /data/after; sync');
    for (const c of r.children) expect((await sh(c.name, 'cat /tmp/after /data/after 2>&1; true')).stdout).toMatch(/No such file[\s\S]*No such file/);

    // the lineage: web → (src-1) → src-1-at-1 → children
    const ls = await E.list();
    const web = ls.templates.find((t) => t.name === 'web')!;
    const at = ls.templates.find((t) => t.name === 'src-1-at-1')!;
    expect(at).toMatchObject({ state: 'frozen', quiesced: true, parentId: web.id, sourceVmId: src.id });
    for (const c of r.children) expect(ls.vms.find((v) => v.name === c.name)).toMatchObject({ templateId: at.id, state: 'running' });

    // memory afterwards: smaps_rollup of the source and the children; tmpfs blocks of both RAM files
    const atRam = (await db().template.findUniqueOrThrow({ where: { id: at.id } })).ramPath;
    figures.memoryBefore = before;
    figures.ramFilesAfterMiB = { web: allocMiB(webRam), [at.name]: allocMiB(atRam) };
    figures.memoryKiB = Object.fromEntries([['src-1', src.pid], ...r.children.map((c) => [c.name, ls.vms.find((v) => v.name === c.name)!.pid])].map(([n, pid]) => [n, procMemory(pid as number)]));
    await expectNoLeftovers(env, E, db);
  }, 240_000);

  it('without quiesce (non-persistent) the source pauses once for disk and RAM, and still carries on', async () => {
    await sh('src-1', 'echo second > /tmp/second');
    const r = (await E.fork('src-1', forkSchema.parse({ count: 1 }))) as import('../../lib/engine').LiveForkResult;
    figures.unquiesced = { pause: r.pause, snapshotMs: r.snapshotMs };
    expect(r.pause.method).toBe('stop-and-copy');
    expect(r.template).toMatchObject({ name: 'src-1-at-2', quiesced: false });
    expect((await sh(r.children[0].name, 'cat /tmp/second /data/after')).stdout).toBe('second\nlater\n');
    expect((await sh('src-1', 'cat /tmp/second; hostname')).stdout).toBe('second\nsrc-1\n');
    await expectNoLeftovers(env, E, db);
  }, 180_000);

  it('prepare with "keep the parent running": the template is made from that moment and the parent runs on as itself', async () => {
    let bootPid: number | null = null;
    const onProgress = async (p: { step: string }) => {
      if (p.step === 'warmup' && bootPid === null) bootPid = (await db().vm.findUnique({ where: { name: 'kept.parent' } }))?.pid ?? null;
    };
    const t = await E.prepare(prepareSchema.parse({ name: 'kept', warmup: ['echo w > /tmp/w'], quiesce: true, keepParent: true }), { onProgress });
    figures.keepParent = t.timings;
    const parent = (await db().vm.findUniqueOrThrow({ where: { name: 'kept.parent' } }))!;
    expect(parent).toMatchObject({ state: 'running', kind: 'child', templateId: t.id });
    expect(bootPid).toBe(parent.pid);
    const tpl = (await db().template.findUniqueOrThrow({ where: { id: t.id } }))!;
    expect(parent.diskPath).not.toBe(tpl.diskPath);
    await sh('kept.parent', 'echo mine > /tmp/mine; echo mine > /data/mine; sync');
    const c = (await E.fork('kept', { count: 1, persistent: true })).children[0];
    const seen = (await sh(c.name, 'cat /tmp/w; hostname; ls /tmp/mine /data/mine 2>&1; true')).stdout;
    expect(seen.startsWith(`w\n${c.name}\n`)).toBe(true);
    expect(seen.match(/No such file/g)).toHaveLength(2);
    expect((await sh('kept.parent', 'cat /tmp/w /tmp/mine /data/mine')).stdout).toBe('w\nmine\nmine\n');
    await expectNoLeftovers(env, E, db);
  }, 240_000);
});
