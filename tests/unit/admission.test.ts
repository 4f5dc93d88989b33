// Admission control: the arithmetic with injected host facts (each refusal, its message, how many
// would fit), reservations between concurrent requests, the stored limits, and the settings route.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-adm-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = path.join(home, 'run');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb, db } = await import('@/lib/db');
const adm = await import('@/lib/engine/admission');
const { DEFAULT_LIMITS, getLimits, setLimits, resetLimits } = await import('@/lib/engine/limits');
const { EngineError, httpStatus } = await import('@/lib/engine/errors');
const { createToken } = await import('@/lib/auth/tokens');
const settingsRoute = await import('@/app/api/v1/settings/route');
const { errorResponse } = await import('@/lib/api/handler');

import type { HostFacts, Usage, TemplateUsage } from '@/lib/engine/admission';
import type { Limits } from '@/lib/engine/limits';

beforeAll(async () => {
  await migrate();
}, 60_000);
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

const facts = (o: Partial<{ total: number; avail: number; runFree: number; homeFree: number; runTmpfs: boolean }> = {}): HostFacts => ({
  memTotalMiB: o.total ?? 24_000,
  memAvailableMiB: o.avail ?? 20_000,
  run: { path: '/dev/shm/instaclone', freeMiB: o.runFree ?? 12_000, totalMiB: 12_000, inMemory: o.runTmpfs ?? true },
  home: { path: '/var/lib/instaclone', freeMiB: o.homeFree ?? 80_000, totalMiB: 100_000, inMemory: false },
});
const limits = (o: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...o });
const tmpl = { id: 't1', name: 'web', memoryMiB: 256 };
const measured = (o: Partial<TemplateUsage> = {}): TemplateUsage => ({
  children: 3,
  measured: 3,
  privateMiB: 30,
  pssMiB: 34,
  overlayMiB: 2,
  persistentDiskMiB: null,
  ...o,
});
const usage = (t?: TemplateUsage, vm = 0): Usage => ({ vmMemoryMiB: vm, template: t });
const fork = (count: number, persistent = false) => ({ kind: 'fork' as const, template: tmpl, count, persistent });

describe('fork admission arithmetic', () => {
  it('admits a fork that fits and says how many would', () => {
    const v = adm.evaluate(fork(10), facts(), limits(), usage(measured()));
    expect(v.ok).toBe(true);
    expect(v.child.measured).toBe(true);
    expect(v.child.privateMiB).toBe(30);
    // tmpfs overlay counts as memory: 30 + 2
    expect(v.child.memoryMiB).toBe(32);
    expect(v.fits).toBe(Math.floor((20_000 - 1024) / 32));
  });

  it('refuses when memory is short, with how many would fit and the measured cost', () => {
    // 2000 available - 1024 reserve = 976 MiB / 32 MiB = 30 children
    const v = adm.evaluate(fork(300), facts({ avail: 2000 }), limits(), usage(measured()));
    expect(v.ok).toBe(false);
    expect(v.binding).toBe('memory');
    expect(v.fits).toBe(30);
    expect(v.message).toBe(
      'Not enough memory for 300 children of web (256 MiB each, ~30 MiB private per child measured on 3 live children, PSS ~34 MiB + ~2 MiB overlay on tmpfs): about 30 would fit. ' +
        '2000 MiB is available and 1024 MiB stays free for the host. Fork fewer or free memory.',
    );
  });

  it('uses the documented default when no live sibling can be measured', () => {
    const v = adm.evaluate(fork(100), facts({ avail: 2000 }), limits(), usage(measured({ measured: 0, privateMiB: null, pssMiB: null, overlayMiB: null })));
    expect(v.child.measured).toBe(false);
    expect(v.child.privateMiB).toBe(adm.DEFAULT_CHILD_PRIVATE_MIB);
    const per = adm.DEFAULT_CHILD_PRIVATE_MIB + adm.DEFAULT_CHILD_OVERLAY_MIB;
    expect(v.fits).toBe(Math.floor(976 / per));
    expect(v.message).toMatch(/default estimate/);
    expect(v.message).toMatch(new RegExp(`about ${Math.floor(976 / per)} would fit`));
  });

  it('does not let a just-started child make the estimate absurdly small', () => {
    const v = adm.evaluate(fork(1), facts(), limits(), usage(measured({ privateMiB: 0.5 })));
    expect(v.child.privateMiB).toBeGreaterThanOrEqual(8);
  });

  it('refuses past the operator memory share, counting what VMs already use', () => {
    // allowed 0.5 * 24000 = 12000; VMs use 11000 -> 1000 / 32 = 31
    const v = adm.evaluate(fork(50), facts(), limits({ maxMemoryShare: 0.5 }), usage(measured(), 11_000));
    expect(v.ok).toBe(false);
    expect(v.binding).toBe('memoryShare');
    expect(v.fits).toBe(31);
    expect(v.message).toMatch(/^Forking 50 children of web would take VMs past 50% of host memory \(VMs use 11000 MiB of 12000 MiB allowed;/);
    expect(v.message).toMatch(/about 31 would fit\. Fork fewer, remove VMs, or raise the memory share in Settings\.$/);
  });

  it('refuses when tmpfs (INSTACLONE_RUN) is short for the overlays', () => {
    // (100 - 64) / 2 = 18
    const v = adm.evaluate(fork(40), facts({ runFree: 100 }), limits(), usage(measured()));
    expect(v.binding).toBe('run');
    expect(v.fits).toBe(18);
    expect(v.message).toMatch(/^Not enough space on INSTACLONE_RUN \(\/dev\/shm\/instaclone, tmpfs\) for 40 children of web \(~2 MiB overlay each; 100 MiB free, 64 MiB kept free\): about 18 would fit\./);
  });

  it('puts persistent disks on INSTACLONE_HOME and refuses when the disk is short', () => {
    const f = facts({ homeFree: 1100 });
    const v = adm.evaluate(fork(20, true), f, limits(), usage(measured({ persistentDiskMiB: 4 })));
    // persistent: nothing on tmpfs, home = 1 (log) + 4 (disk); (1100 - 1024) / 5 = 15
    expect(v.child.runMiB).toBe(0);
    expect(v.child.homeMiB).toBe(5);
    expect(v.binding).toBe('home');
    expect(v.fits).toBe(15);
    expect(v.message).toMatch(/^Not enough disk space on INSTACLONE_HOME \(\/var\/lib\/instaclone\) for 20 children of web/);
    // the same fork, non-persistent, fits: the overlays go to tmpfs
    expect(adm.evaluate(fork(20, false), f, limits(), usage(measured())).ok).toBe(true);
  });

  it('refuses past the per-template child limit, counting existing children', () => {
    const v = adm.evaluate(fork(5), facts(), limits({ maxChildrenPerTemplate: 10 }), usage(measured({ children: 8 })));
    expect(v.binding).toBe('templateLimit');
    expect(v.fits).toBe(2);
    expect(v.message).toBe(
      'web already has 8 children and the limit is 10 per template, so 5 children of web cannot be forked: about 2 would fit. Fork fewer, remove children, or raise the limit in Settings.',
    );
    expect(adm.evaluate(fork(2), facts(), limits({ maxChildrenPerTemplate: 10 }), usage(measured({ children: 8 }))).ok).toBe(true);
    const none = adm.evaluate(fork(1), facts(), limits({ maxChildrenPerTemplate: 0 }), usage(measured({ children: 0 })));
    expect(none.message).toMatch(/none would fit now/);
  });

  it('admits exactly as many as fit and refuses one more', () => {
    const f = facts({ avail: 1024 + 32 * 7 });
    expect(adm.evaluate(fork(7), f, limits(), usage(measured())).ok).toBe(true);
    const v = adm.evaluate(fork(8), f, limits(), usage(measured()));
    expect(v.ok).toBe(false);
    expect(v.fits).toBe(7);
  });

  it('picks the tightest constraint', () => {
    const v = adm.evaluate(fork(100), facts({ avail: 1024 + 32 * 50, runFree: 64 + 2 * 20 }), limits({ maxChildrenPerTemplate: 40 }), usage(measured({ children: 0 })));
    expect(v.binding).toBe('run');
    expect(v.fits).toBe(20);
    expect(v.constraints.map((c) => [c.name, c.fits])).toEqual([
      ['memory', 50],
      ['memoryShare', Math.floor((0.8 * 24_000) / 32)],
      ['run', 20],
      ['home', Math.floor((80_000 - 1024) / 1)],
      ['templateLimit', 40],
    ]);
  });

  it('does not count overlays as memory when INSTACLONE_RUN is a disk', () => {
    const v = adm.evaluate(fork(1), facts({ runTmpfs: false }), limits(), usage(measured()));
    expect(v.child.memoryMiB).toBe(30);
  });
});

describe('prepare admission arithmetic', () => {
  const prep = (o: { memoryMiB?: number; slots?: number; prelaunch?: boolean; diskBytes?: number } = {}) => ({
    kind: 'prepare' as const,
    name: 'web',
    memoryMiB: o.memoryMiB ?? 1024,
    slots: o.slots ?? 0,
    prelaunch: o.prelaunch ?? false,
    diskBytes: o.diskBytes,
  });

  it('admits a parent that fits', () => {
    expect(adm.evaluate(prep(), facts(), limits(), usage()).ok).toBe(true);
  });

  it('refuses a parent bigger than available memory', () => {
    const v = adm.evaluate(prep({ memoryMiB: 8192 }), facts({ avail: 6000 }), limits(), usage());
    expect(v.ok).toBe(false);
    expect(v.binding).toBe('memory');
    expect(v.fits).toBe(-1);
    expect(v.message).toMatch(/^Not enough memory to prepare web \(8192 MiB guest RAM \+ ~96 MiB QEMU overhead\): it does not fit at all\. Prepare with less memory, or free memory \(6000 MiB available, 1024 MiB stays free for the host\)\.$/);
  });

  it('says how many prelaunched slots would fit when the parent does', () => {
    // 1024 + 96 + n * 40 (prelaunched: a waiting QEMU each, default cost) <= 3000 - 1024
    const v = adm.evaluate(prep({ slots: 50, prelaunch: true }), facts({ avail: 3000 }), limits(), usage());
    expect(v.ok).toBe(false);
    expect(v.fits).toBe(Math.floor((3000 - 1024 - 1024 - 96) / (adm.DEFAULT_CHILD_PRIVATE_MIB + adm.DEFAULT_CHILD_OVERLAY_MIB)));
    expect(v.message).toMatch(/the parent fits but only \d+ of the 50 slots would\. Ask for fewer slots or do not prelaunch them, or free memory/);
  });

  it('refuses when the RAM file would not fit on tmpfs', () => {
    const v = adm.evaluate(prep({ memoryMiB: 2048 }), facts({ runFree: 1000 }), limits(), usage());
    expect(v.binding).toBe('run');
    expect(v.message).toMatch(/^Not enough space on INSTACLONE_RUN \(\/dev\/shm\/instaclone, tmpfs\) to prepare web \(its RAM file can grow to 2048 MiB; 1000 MiB free, 64 MiB kept free\): it does not fit at all\./);
  });

  it('refuses when the checkpoint and base disk would not fit on INSTACLONE_HOME', () => {
    const v = adm.evaluate(prep({ diskBytes: 500 * 1024 * 1024 }), facts({ homeFree: 1500 }), limits(), usage());
    expect(v.binding).toBe('home');
    expect(v.message).toMatch(/^Not enough disk space on INSTACLONE_HOME \(\/var\/lib\/instaclone\) to prepare web \(~564 MiB for its checkpoint and base disk/);
  });

  it('refuses past the memory share', () => {
    const v = adm.evaluate(prep({ memoryMiB: 4096 }), facts(), limits({ maxMemoryShare: 0.2 }), usage(undefined, 1000));
    expect(v.binding).toBe('memoryShare');
    expect(v.message).toMatch(/^Preparing web would take VMs past 20% of host memory/);
  });
});

describe('checkAdmission', () => {
  it('throws EngineError insufficient (HTTP 507) carrying the verdict', async () => {
    adm.clearReservations();
    const e = await adm.checkAdmission(fork(300), { facts: facts({ avail: 2000 }), limits: limits(), usage: usage(measured()) }).catch((x) => x);
    expect(e).toBeInstanceOf(EngineError);
    expect(e.code).toBe('insufficient');
    expect(httpStatus[e.code as keyof typeof httpStatus]).toBe(507);
    expect(e.message).toMatch(/about 30 would fit/);
    expect(e.details.fits).toBe(30);
    const res = errorResponse(e);
    expect(res.status).toBe(507);
    expect((await res.json()).code).toBe('insufficient');
  });

  it('refuses a nonsense count as invalid, not insufficient', async () => {
    await expect(adm.checkAdmission(fork(0), { facts: facts(), limits: limits(), usage: usage() })).rejects.toMatchObject({ code: 'invalid' });
    await expect(adm.checkAdmission(fork(1.5), { facts: facts(), limits: limits(), usage: usage() })).rejects.toMatchObject({ code: 'invalid' });
  });

  it('reserves what it admitted so concurrent requests cannot both take the last memory', async () => {
    adm.clearReservations();
    const opts = { facts: facts({ avail: 1024 + 32 * 10 }), limits: limits(), usage: usage(measured()) };
    const a = await adm.checkAdmission(fork(6), opts);
    const e = await adm.checkAdmission(fork(6), opts).catch((x) => x);
    expect(e.code).toBe('insufficient');
    expect(e.message).toMatch(/about 4 would fit/);
    a.release();
    const b = await adm.checkAdmission(fork(6), opts);
    b.release();
  });

  it('holds a reservation until the operation ends, however long it takes (no expiry)', async () => {
    adm.clearReservations();
    const opts = { facts: facts({ avail: 1024 + 32 * 10 }), limits: limits(), usage: usage(measured()) };
    const a = await adm.checkAdmission(fork(6), opts);
    const realNow = Date.now;
    Date.now = () => realNow() + 3600_000; // an hour into a big fork or a slow prepare
    try {
      await expect(adm.checkAdmission(fork(6), opts)).rejects.toMatchObject({ code: 'insufficient' });
    } finally {
      Date.now = realNow;
    }
    a.release();
    (await adm.checkAdmission(fork(6), opts)).release();
  });

  it('admits background launches (reset spare, slot top-up) as many as fit, none when full, without a refusal event', async () => {
    adm.clearReservations();
    const events = await db().event.count();
    const opts = { facts: facts({ avail: 1024 + 32 * 10 }), limits: limits(), usage: usage(measured()) };
    const a = await adm.admitBackground(tmpl, 20, opts);
    expect(a?.count).toBe(10); // asked for 20, 10 children's worth fit
    // held until released: a spare asked for now finds no room
    expect(await adm.admitBackground(tmpl, 1, opts)).toBeNull();
    a!.release();
    const b = await adm.admitBackground(tmpl, 1, opts);
    expect(b?.count).toBe(1);
    expect(await db().event.count()).toBe(events);
    // and an operator's fork sees what the background launch holds
    await expect(adm.checkAdmission(fork(10), opts)).rejects.toMatchObject({ code: 'insufficient' });
    b!.release();
  });

  it('admits the cold boot of a stopped persistent child (start) against its whole RAM', async () => {
    adm.clearReservations();
    const v = adm.evaluate({ kind: 'start', name: 'db-1', memoryMiB: 2048 }, facts({ avail: 1024 + 2000 }), limits(), usage());
    expect(v.ok).toBe(false);
    expect(v.message).toMatch(/^Not enough memory to start db-1 \(a cold boot takes its 2048 MiB guest RAM \+ ~96 MiB QEMU overhead; 3024 MiB available, 1024 MiB stays free for the host\): stop or remove VMs, then start it again\.$/);
    const ok = await adm.checkAdmission({ kind: 'start', name: 'db-1', memoryMiB: 256 }, { facts: facts({ avail: 1024 + 400 }), limits: limits(), usage: usage() });
    expect(ok.need.memoryMiB).toBe(256 + 96);
    // held while it boots: a second start of the same size no longer fits
    await expect(adm.checkAdmission({ kind: 'start', name: 'db-2', memoryMiB: 256 }, { facts: facts({ avail: 1024 + 400 }), limits: limits(), usage: usage() })).rejects.toMatchObject({ code: 'insufficient' });
    ok.release();
  });

  it('refuses Engine.start of a persistent child before anything is launched when it does not fit', async () => {
    const { Engine } = await import('@/lib/engine');
    await db().template.create({ data: { id: 'tpl_start', name: 'startt', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: home, ramPath: '/r', statePath: '/s', diskPath: '/d' } });
    const disk = path.join(home, 'p-disk.qcow2');
    fs.writeFileSync(disk, '');
    await db().vm.create({ data: { id: 'vm_startme', name: 'big-1', kind: 'child', state: 'stopped', persistent: true, templateId: 'tpl_start', image: 'tiny', memoryMiB: 16384 * 64, runDir: path.join(home, 'run', 'vms', 'vm_startme'), diskPath: disk } });
    try {
      const e = await Engine.get().startVm('big-1').catch((x: unknown) => x as Error & { code?: string });
      expect((e as { code?: string }).code).toBe('insufficient');
      expect((e as Error).message).toMatch(/^(Not enough memory to start big-1|Starting big-1 would take VMs past)/);
      expect((await db().vm.findUniqueOrThrow({ where: { id: 'vm_startme' } })).state).toBe('stopped');
      expect(await db().task.count({ where: { kind: 'start' } })).toBe(0); // refused before any work
    } finally {
      await Engine.get().shutdown();
      await db().vm.deleteMany({ where: { id: 'vm_startme' } });
      await db().template.deleteMany({ where: { id: 'tpl_start' } });
    }
  });

  it('reserves child slots against the per-template limit', async () => {
    adm.clearReservations();
    const opts = { facts: facts(), limits: limits({ maxChildrenPerTemplate: 4 }), usage: usage(measured({ children: 0 })) };
    const a = await adm.checkAdmission(fork(3), opts);
    await expect(adm.checkAdmission(fork(2), opts)).rejects.toMatchObject({ code: 'insufficient' });
    a.release();
    (await adm.checkAdmission(fork(2), opts)).release();
  });

  it('reads real host facts', async () => {
    const f = adm.hostFacts();
    expect(f.memTotalMiB).toBeGreaterThan(100);
    expect(f.memAvailableMiB).toBeGreaterThan(0);
    expect(f.memAvailableMiB).toBeLessThanOrEqual(f.memTotalMiB);
    expect(f.home.freeMiB).toBeGreaterThan(0);
    // INSTACLONE_RUN does not exist yet: the nearest existing parent is measured
    expect(f.run.totalMiB).toBeGreaterThan(0);
    if (fs.existsSync('/dev/shm')) expect(adm.dirFacts('/dev/shm/does/not/exist').inMemory).toBe(true);
    const me = adm.processMemory(process.pid)!;
    expect(me.anonymousMiB).toBeGreaterThan(1);
    expect(me.pssMiB).toBeGreaterThan(1);
    expect(adm.processMemory(0x7ffffff0)).toBeNull();
  });

  it('parses /proc/meminfo, also without MemAvailable', () => {
    expect(adm.readMeminfo('MemTotal:  2048000 kB\nMemFree: 1024000 kB\nMemAvailable: 1536000 kB\n')).toEqual({ memTotalMiB: 2000, memAvailableMiB: 1500 });
    expect(adm.readMeminfo('MemTotal:  2048000 kB\nMemFree: 1024000 kB\nCached: 102400 kB\n')).toEqual({ memTotalMiB: 2000, memAvailableMiB: 1100 });
  });

  it('measures usage from the database and the live processes (none here)', async () => {
    const u = await adm.measureUsage('nope');
    expect(u.template).toEqual({ children: 0, measured: 0, privateMiB: null, pssMiB: null, overlayMiB: null, persistentDiskMiB: null });
    // with a real host and an empty database a one-child fork is admitted
    adm.clearReservations();
    const a = await adm.checkAdmission(fork(1));
    expect(a.ok).toBe(true);
    a.release();
  });

  it('counts only a template’s own children, and only live ones for the cost', async () => {
    await db().template.create({
      data: { id: 'tpl_a', name: 'tpl-a', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d' },
    });
    for (const i of [1, 2])
      await db().vm.create({
        data: { id: `vm_${i}`, name: `a-${i}`, kind: 'child', state: 'stopped', templateId: 'tpl_a', image: 'tiny', memoryMiB: 256, runDir: `/nonexistent/${i}`, pid: process.pid },
      });
    const u = await adm.measureUsage('tpl_a');
    expect(u.template!.children).toBe(2);
    expect(u.template!.measured).toBe(0); // stopped, and the pid is not a QEMU of that run dir
    await db().vm.deleteMany({ where: { templateId: 'tpl_a' } });
    await db().template.delete({ where: { id: 'tpl_a' } });
  });
});

describe('stored limits', () => {
  it('starts from the defaults, stores changes, clears the child limit with null, and resets', async () => {
    await resetLimits();
    expect(await getLimits()).toEqual(DEFAULT_LIMITS);
    await setLimits({ maxChildrenPerTemplate: 5, maxMemoryShare: 0.5 });
    expect(await getLimits()).toMatchObject({ maxChildrenPerTemplate: 5, maxMemoryShare: 0.5, minFreeRunMiB: DEFAULT_LIMITS.minFreeRunMiB });
    await setLimits({ maxChildrenPerTemplate: null });
    expect((await getLimits()).maxChildrenPerTemplate).toBeNull();
    // a row that does not parse (edited by hand) falls back to the default
    await db().setting.upsert({ where: { key: 'limits.minFreeRunMiB' }, create: { key: 'limits.minFreeRunMiB', value: 'lots' }, update: { value: 'lots' } });
    expect((await getLimits()).minFreeRunMiB).toBe(DEFAULT_LIMITS.minFreeRunMiB);
    expect(await resetLimits()).toEqual(DEFAULT_LIMITS);
  });

  it('feeds the stored limits into checkAdmission', async () => {
    adm.clearReservations();
    await setLimits({ maxChildrenPerTemplate: 1 });
    const e = await adm.checkAdmission(fork(2)).catch((x) => x);
    expect(e.code).toBe('insufficient');
    expect(e.message).toMatch(/the limit is 1 per template/);
    await resetLimits();
  });
});

describe('settings route', () => {
  const req = (method: string, token: string, body?: unknown, raw?: string) =>
    new Request('http://console.test/api/v1/settings', {
      method,
      headers: { host: 'console.test', authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
  let viewer: string, operator: string, admin: string;
  beforeAll(async () => {
    viewer = (await createToken('wall', 'viewer')).secret;
    operator = (await createToken('ci', 'operator')).secret;
    admin = (await createToken('root', 'admin')).secret;
    await resetLimits();
  });

  it('lets a viewer read the limits and host facts', async () => {
    const r = await settingsRoute.GET(req('GET', viewer));
    expect(r.status).toBe(200);
    const j = await r.json();
    expect(j.limits).toEqual(DEFAULT_LIMITS);
    expect(j.defaults).toEqual(DEFAULT_LIMITS);
    expect(j.host.memTotalMiB).toBeGreaterThan(0);
    expect(typeof j.host.vmMemoryMiB).toBe('number');
    expect(j.capacity).toEqual([]);
  });

  it('reports how many children of each frozen template would fit now', async () => {
    await db().template.create({
      data: { id: 'tpl_cap', name: 'cap', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d' },
    });
    await setLimits({ maxChildrenPerTemplate: 7 });
    try {
      const j = await (await settingsRoute.GET(req('GET', viewer))).json();
      expect(j.capacity).toEqual([
        { templateId: 'tpl_cap', name: 'cap', fits: 7, limitedBy: 'templateLimit', perChild: { privateMiB: adm.DEFAULT_CHILD_PRIVATE_MIB, overlayMiB: adm.DEFAULT_CHILD_OVERLAY_MIB, measured: false, measuredOn: 0 } },
      ]);
    } finally {
      await resetLimits();
      await db().template.delete({ where: { id: 'tpl_cap' } });
    }
  });

  it('refuses changes from viewers and operators (403) and without a token (401)', async () => {
    expect((await settingsRoute.PUT(req('PUT', viewer, { maxChildrenPerTemplate: 3 }))).status).toBe(403);
    expect((await settingsRoute.PUT(req('PUT', operator, { maxChildrenPerTemplate: 3 }))).status).toBe(403);
    expect((await settingsRoute.PUT(req('PUT', 'ic_not-a-token', { maxChildrenPerTemplate: 3 }))).status).toBe(401);
    expect((await getLimits()).maxChildrenPerTemplate).toBeNull();
  });

  it('lets an admin change limits and logs who changed what', async () => {
    const r = await settingsRoute.PUT(req('PUT', admin, { maxChildrenPerTemplate: 3, maxMemoryShare: 0.6 }));
    expect(r.status).toBe(200);
    expect((await r.json()).limits).toMatchObject({ maxChildrenPerTemplate: 3, maxMemoryShare: 0.6 });
    expect(await getLimits()).toMatchObject({ maxChildrenPerTemplate: 3, maxMemoryShare: 0.6 });
    const ev = await db().event.findFirst({ where: { action: 'settings' }, orderBy: { id: 'desc' } });
    expect(ev).toMatchObject({ actor: 'token:root', result: 'ok' });
    expect(ev!.message).toMatch(/maxChildrenPerTemplate null → 3/);
    const back = await settingsRoute.PUT(req('PUT', admin, { maxChildrenPerTemplate: null }));
    expect((await back.json()).limits.maxChildrenPerTemplate).toBeNull();
  });

  it.each([
    [{ maxChildrenPerTemplate: -1 }, /must not be negative/],
    [{ maxChildrenPerTemplate: 2.5 }, /whole number/],
    [{ maxChildrenPerTemplate: '10' }, /must be a number/],
    [{ maxMemoryShare: 2 }, /between 0\.05 and 1/],
    [{ maxMemoryShare: 0 }, /between 0\.05 and 1/],
    [{ minFreeMemoryMiB: -5 }, /must not be negative/],
    [{ minFreeRunMiB: 1e12 }, /at most/],
    [{ minFreeHomeMiB: null }, /must be a number/],
    [{ maxChildren: 3 }, /maxChildren/],
    [{}, /at least one limit/],
    [[1, 2], /expected object/i],
  ])('refuses bad input %j with 422', async (body, msg) => {
    const before = await getLimits();
    const r = await settingsRoute.PUT(req('PUT', admin, body));
    expect(r.status).toBe(422);
    expect((await r.json()).error).toMatch(msg);
    expect(await getLimits()).toEqual(before);
    const ev = await db().event.findFirst({ where: { action: 'settings' }, orderBy: { id: 'desc' } });
    expect(ev).toMatchObject({ actor: 'token:root', result: 'error' });
  });

  it('refuses a body that is not JSON with 422', async () => {
    const r = await settingsRoute.PUT(req('PUT', admin, undefined, '{"maxMemoryShare": 0.5'));
    expect(r.status).toBe(422);
  });

  it('refuses a cookie-session PUT from another site', async () => {
    const r = await settingsRoute.PUT(
      new Request('http://console.test/api/v1/settings', {
        method: 'PUT',
        headers: { host: 'console.test', cookie: 'instaclone_session=x', origin: 'http://evil.test', 'sec-fetch-site': 'cross-site' },
        body: '{"maxMemoryShare":1}',
      }),
    );
    expect([401, 403]).toContain(r.status);
  });
});
