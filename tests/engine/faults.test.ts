// Faults against real QEMU (TCG, tiny image), in a private INSTACLONE_HOME and a small tmpfs
// mounted as INSTACLONE_RUN:
//   - template files are read-only and checksummed; children map the RAM file privately and
//     cannot change the template's RAM file, checkpoint or base disk even after writing memory and /data;
//   - a child's QEMU killed with SIGKILL is seen as crashed within 2 s (state + event), keeps its
//     last serial lines, and its siblings still answer guest-exec;
//   - a tmpfs too small for a fork is refused up front (how many would fit), and a tmpfs that
//     fills up in the middle of a fork fails the rest of it cleanly and leaves the host as it was.
// afterAll kills every QEMU under the run dir, unmounts the tmpfs and removes the temp dirs, even on failure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillUp, qemuPids, runEntries, setupEnv, startEngine, stopEverything, teardownEnv, testAdmin } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('faults');
// one child at a time, so that "the middle of a fork" is well defined (and two cores stay usable)
process.env.INSTACLONE_FORK_CONCURRENCY = '1';
const TMPFS_MIB = 768;
// a warm-up command that would leave this file if it ever ran on the host instead of in the guest
const hostMarker = `/tmp/ic-host-marker-${process.pid}-${Date.now()}`;

type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
let adm: typeof import('../../lib/engine/admission');
let limits: typeof import('../../lib/engine/limits');
let sha256File: (f: string) => Promise<string>;
let mounted = false;
const timings: Record<string, number> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (vm: string, cmd: string, timeoutMs = 30_000) => E.exec(vm, execSchema.parse({ command: ['/bin/sh', '-c', cmd], timeoutMs }));
const mountTmpfs = (size: string, remount = false) => {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `${remount ? 'remount,' : ''}size=${size},mode=0700`, 'tmpfs', env.run], { timeout: 60_000, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
};
const tmpfsUsedMiB = () => {
  const s = fs.statfsSync(env.run);
  return ((s.blocks - s.bfree) * s.bsize) / 1024 / 1024;
};
const pgrep = (pattern: string) => spawnSync('pgrep', ['-f', pattern], { timeout: 60_000, encoding: 'utf8' }).stdout.trim();

/** The database matches reality: every QEMU under the run dir is a VM/slot row with that pid and vice versa, no stray run dirs, overlays or leases. */
async function expectConsistent() {
  const vms = await db().vm.findMany();
  const slots = await db().slot.findMany();
  const live = [...vms.filter((v) => v.state === 'running' || v.state === 'starting'), ...slots.filter((s) => s.pid)];
  expect(qemuPids(env.run).sort()).toEqual(live.map((v) => v.pid).sort());
  const owned = new Set([...vms.filter((v) => v.state === 'running' || v.state === 'starting').map((v) => v.id), ...slots.map((s) => s.id)]);
  expect(runEntries(env).filter((e) => !owned.has(e))).toEqual([]);
  for (const v of vms) if (v.state === 'running' && v.diskPath) expect(fs.existsSync(v.diskPath)).toBe(true);
  const ids = new Set([...vms.map((v) => v.id), ...slots.map((s) => s.id)]);
  for (const l of await db().lease.findMany()) expect(ids.has(l.vmId)).toBe(true);
  const tplDirs = fs.existsSync(`${env.run}/templates`) ? fs.readdirSync(`${env.run}/templates`).sort() : [];
  expect(tplDirs).toEqual((await db().template.findMany()).map((t) => t.id).sort());
}

async function template() {
  return db().template.findUniqueOrThrow({ where: { name: 'f' } });
}

async function expectTemplateIntact() {
  const t = await template();
  const sums = JSON.parse(t.checksums) as Record<string, string>;
  expect(Object.keys(sums).sort()).toEqual(['disk', 'ram', 'state']);
  expect(await sha256File(t.ramPath)).toBe(sums.ram);
  expect(await sha256File(t.statePath)).toBe(sums.state);
  expect(await sha256File(t.diskPath)).toBe(sums.disk);
}

beforeAll(async () => {
  fs.mkdirSync(env.run, { recursive: true, mode: 0o700 });
  mountTmpfs(`${TMPFS_MIB}m`);
  mounted = true;
  ({ E, db } = await startEngine());
  adm = await import('../../lib/engine/admission');
  limits = await import('../../lib/engine/limits');
  ({ sha256File } = await import('../../lib/engine/disks'));
  let t0 = performance.now();
  await E.prepare(prepareSchema.parse({ name: 'f', memory: 256, warmup: [`echo ran-in-guest > ${hostMarker}`, 'echo "$(hostname)" >> /tmp/warm'] }));
  timings.prepareMs = Math.round(performance.now() - t0);
  t0 = performance.now();
  const r = await E.fork('f', forkSchema.parse({ count: 3 }));
  timings.fork3Ms = Math.round(performance.now() - t0);
  expect(r.children.map((c) => c.name)).toEqual(['f-1', 'f-2', 'f-3']);
});

afterAll(async () => {
  console.log('faults timings', JSON.stringify(timings));
  // what the engine's own shutdown left running (killed now, asserted at the end)
  const left = await stopEverything(env.run);
  if (mounted) {
    const u = spawnSync('umount', [env.run], { timeout: 60_000 });
    if (u.status !== 0) spawnSync('umount', ['-l', env.run], { timeout: 60_000 });
  }
  await teardownEnv(env);
  fs.rmSync(hostMarker, { force: true });
  expect(left, 'QEMU left running after the engine shut down').toEqual([]);
  expect(qemuPids(env.run)).toEqual([]);
  expect(pgrep(env.run)).toBe('');
  expect(fs.existsSync(env.run)).toBe(false);
});

describe('privilege', () => {
  it('every QEMU (slots and children) runs as its own pool uid, not root, when the engine is root and the QEMU user exists', async () => {
    const { qemuUser } = await import('../../lib/engine/argv');
    const { inPool } = await import('../../lib/engine/qemu-uids');
    const u = qemuUser();
    const pids = qemuPids(env.run);
    expect(pids.length).toBeGreaterThan(0);
    const seen = new Set<number>();
    for (const pid of pids) {
      const uids = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)![1].trim().split(/\s+/).map(Number);
      if (u) {
        expect(new Set(uids).size, `pid ${pid}`).toBe(1);
        expect(inPool(uids[0]), `pid ${pid} uid ${uids[0]}`).toBe(true);
        expect(seen.has(uids[0]), `pid ${pid} shares uid ${uids[0]}`).toBe(false);
        seen.add(uids[0]);
      } else expect(uids[1]).toBe(process.getuid?.());
    }
    // the run dirs QEMU needs after it dropped root: owned by that VM's uid, still 0700
    if (u) {
      const kids = await db().vm.findMany({ where: { kind: 'child', state: 'running' } });
      for (const k of kids) {
        const st = fs.statSync(k.runDir!);
        expect(inPool(st.uid)).toBe(true);
        expect([st.gid, st.mode & 0o777]).toEqual([u.gid, 0o700]);
      }
      expect(fs.statSync(env.run).mode & 0o007).toBe(0);
    }
  });
});

describe('template files', () => {
  it('are read-only (0444) and match their recorded checksums', async () => {
    const t = await template();
    for (const f of [t.ramPath, t.statePath, t.diskPath]) expect(fs.statSync(f).mode & 0o777, f).toBe(0o444);
    await expectTemplateIntact();
  });

  it('are mapped privately by children, opened read-only where QEMU allows, and unchanged after children write memory and /data', async () => {
    const t = await template();
    const kids = await db().vm.findMany({ where: { templateId: t.id, kind: 'child', state: 'running' }, orderBy: { name: 'asc' } });
    expect(kids).toHaveLength(3);
    for (const k of kids) {
      const cmd = fs.readFileSync(`/proc/${k.pid}/cmdline`, 'utf8').split('\0');
      expect(cmd.some((a) => a.includes(`mem-path=${t.ramPath},share=off`))).toBe(true);
      // every mapping of the RAM file is MAP_PRIVATE ("p"): the kernel copies a page on a child's first write
      const maps = fs.readFileSync(`/proc/${k.pid}/maps`, 'utf8').split('\n').filter((l) => l.endsWith(t.ramPath));
      expect(maps.length).toBeGreaterThan(0);
      for (const l of maps) expect(l.split(/\s+/)[1][3], l).toBe('p');
      // the base disk (backing file of the child's overlay) is open read-only
      const fds = fs.readdirSync(`/proc/${k.pid}/fd`);
      let diskFds = 0;
      for (const fd of fds) {
        let target = '';
        try {
          target = fs.readlinkSync(`/proc/${k.pid}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target === t.ramPath) {
          // QEMU 7.2 opens the RAM file O_RDWR even with share=off (readonly=on,rom=off needs 8.2):
          // the private mapping, not the file mode, is what keeps a child's writes out (as root).
          const fl = parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${k.pid}/fdinfo/${fd}`, 'utf8'))![1], 8);
          timings.ramFdAccMode = fl & 3;
        }
        if (target !== t.diskPath) continue;
        diskFds++;
        const flags = parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${k.pid}/fdinfo/${fd}`, 'utf8'))![1], 8);
        expect(flags & 3, `base disk fd ${fd} of ${k.name} must be O_RDONLY`).toBe(0);
      }
      expect(diskFds).toBeGreaterThan(0);
    }
    const before = adm.processMemory(kids[0].pid!)!;
    // dirty 24 MiB of guest RAM (guest /tmp is tmpfs) and write 4 MiB to the data disk, in every child
    for (const k of kids) {
      const r = await sh(k.name, `dd if=/dev/urandom of=/tmp/junk bs=1M count=24 2>/dev/null && dd if=/dev/urandom of=/data/junk-${k.name} bs=1M count=4 conv=fsync 2>/dev/null && sync && wc -c < /tmp/junk`, 60_000);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(String(24 * 1024 * 1024));
    }
    const after = adm.processMemory(kids[0].pid!)!;
    // the writes landed in the child's own (anonymous, copy-on-write) pages
    expect(after.anonymousMiB - before.anonymousMiB).toBeGreaterThan(20);
    timings.childAnonymousBeforeMiB = Math.round(before.anonymousMiB);
    timings.childAnonymousAfterMiB = Math.round(after.anonymousMiB);
    // a sibling does not see another child's /data file
    const r = await sh('f-2', 'ls /data');
    expect(r.stdout).toContain('junk-f-2');
    expect(r.stdout).not.toContain('junk-f-1');
    await expectTemplateIntact();
  });
});

describe('a child killed with SIGKILL', () => {
  it('is seen as crashed within 2 s with its last serial lines, and harms no sibling', async () => {
    const victim = await db().vm.findUniqueOrThrow({ where: { name: 'f-2' } });
    const siblings = await db().vm.findMany({ where: { name: { in: ['f-1', 'f-3'] } } });
    // something recent on the child's serial console to find again
    const marker = `last-words-${Date.now()}`;
    expect((await sh('f-2', `echo ${marker} > /dev/ttyS0`)).exitCode).toBe(0);
    await sleep(200);
    const seen = new Promise<{ at: number; e: Record<string, unknown> }>((resolve) => {
      const on = (e: Record<string, unknown>) => {
        if (e.type === 'vm' && e.id === victim.id && e.state === 'crashed') {
          E.events.off('event', on);
          resolve({ at: performance.now(), e });
        }
      };
      E.events.on('event', on);
    });
    const t0 = performance.now();
    process.kill(victim.pid!, 'SIGKILL');
    const got = await Promise.race([seen, sleep(5000).then(() => null)]);
    expect(got, 'no crashed event within 5 s').not.toBeNull();
    const ms = got!.at - t0;
    timings.crashSeenMs = Math.round(ms);
    expect(ms).toBeLessThan(2000);
    const row = await db().vm.findUniqueOrThrow({ where: { id: victim.id } });
    expect(row.state).toBe('crashed');
    expect(row.pid).toBeNull();
    expect(row.error).toMatch(/QEMU (exited unexpectedly|process is gone)/);
    expect(row.lastSerial).toContain(marker);
    const view = (await E.get('f-2')) as { state: string; lastSerial: string | null };
    expect(view.state).toBe('crashed');
    expect(view.lastSerial).toContain(marker);
    // the crash is in the event log
    const ev = await db().event.findFirst({ where: { action: 'crash', targetId: victim.id } });
    expect(ev).toMatchObject({ result: 'error' });
    // nothing of its QEMU is left
    expect(pgrep(victim.runDir + '/')).toBe('');
    expect(fs.existsSync(victim.runDir)).toBe(false);
    // siblings: same pids, still answering
    for (const s of siblings) {
      expect((await db().vm.findUniqueOrThrow({ where: { id: s.id } })).pid).toBe(s.pid);
      const r = await sh(s.name, 'echo alive; hostname');
      expect(r.stdout).toBe(`alive\n${s.name}\n`);
    }
    await expectConsistent();
    await E.remove('f-2');
    await expectConsistent();
  });
});

describe('a full tmpfs (INSTACLONE_RUN)', () => {
  it('refuses up front a fork the tmpfs cannot hold, saying how many would fit', async () => {
    const t = await template();
    const cap = await adm.forkCapacity(t);
    const per = cap.child.runMiB;
    const lim = await limits.getLimits();
    // shrink the tmpfs to what is used now + the reserve + room for 2.5 children
    const size = Math.ceil(tmpfsUsedMiB() + lim.minFreeRunMiB + 2.5 * per + 1);
    mountTmpfs(`${size}m`, true);
    try {
      const before = { pids: qemuPids(env.run).sort(), run: runEntries(env), vms: await db().vm.count() };
      const e = await E.fork('f', forkSchema.parse({ count: 10 })).then(
        () => null,
        (x) => x,
      );
      expect(e?.code).toBe('insufficient');
      expect(e.message).toMatch(new RegExp(`^Not enough space on INSTACLONE_RUN \\(${env.run}, tmpfs\\) for 10 children of f \\(~[\\d.]+ MiB overlay each; [\\d.]+ MiB free, ${lim.minFreeRunMiB} MiB kept free\\): about [1-3] would fit\\.`));
      expect({ pids: qemuPids(env.run).sort(), run: runEntries(env), vms: await db().vm.count() }).toEqual(before);
      await expectConsistent();
    } finally {
      mountTmpfs(`${TMPFS_MIB}m`, true);
    }
  });

  it('filling up in the middle of a fork fails the rest of it cleanly and leaves the host as it was', async () => {
    const before = {
      pids: qemuPids(env.run).sort(),
      run: runEntries(env),
      vms: (await db().vm.findMany()).map((v) => `${v.name}:${v.state}:${v.pid}`).sort(),
      leases: (await db().lease.findMany()).map((l) => l.vmId).sort(),
      home: fs.readdirSync(path.join(env.home, 'vms')).sort(),
    };
    let filler: string | null = null;
    const events: string[] = [];
    const on = (e: Record<string, unknown>) => {
      if (e.type !== 'vm' || typeof e.name !== 'string' || !e.name.startsWith('g-')) return;
      events.push(`${e.name}:${e.state}`);
      // the first child of the fork is up: now the tmpfs fills (another tenant, a runaway log…)
      if (e.state === 'running' && !filler) filler = fillUp(env.run);
    };
    E.events.on('event', on);
    const t0 = performance.now();
    let err: (Error & { code?: string }) | null = null;
    try {
      await E.fork('f', forkSchema.parse({ count: 3, prefix: 'g' }));
    } catch (e) {
      err = e as Error;
    } finally {
      E.events.off('event', on);
    }
    timings.failedForkMs = Math.round(performance.now() - t0);
    expect(filler, 'the first child never came up').not.toBeNull();
    expect(err, 'the fork should fail once the tmpfs is full').not.toBeNull();
    console.log(`mid-fork ENOSPC: code=${err!.code} message=${err!.message}; events=${events.join(',')}`);
    expect(err!.message).toMatch(/No space left on device|ENOSPC|space/i);
    // the child that was already up was rolled back with the rest; nothing of g-* is left anywhere
    expect(events).toContain('g-1:running');
    expect(await db().vm.count({ where: { name: { startsWith: 'g-' } } })).toBe(0);
    const task = await db().task.findFirst({ where: { kind: 'fork' }, orderBy: { startedAt: 'desc' } });
    expect(task).toMatchObject({ state: 'failed' });
    expect(task!.error).toBe(err!.message);
    fs.rmSync(filler!);
    expect({
      pids: qemuPids(env.run).sort(),
      run: runEntries(env),
      vms: (await db().vm.findMany()).map((v) => `${v.name}:${v.state}:${v.pid}`).sort(),
      leases: (await db().lease.findMany()).map((l) => l.vmId).sort(),
      home: fs.readdirSync(path.join(env.home, 'vms')).sort(),
    }).toEqual(before);
    await expectConsistent();
    await expectTemplateIntact();
    // siblings are unharmed and a new fork works again
    for (const n of ['f-1', 'f-3']) expect((await sh(n, 'echo ok')).stdout).toBe('ok\n');
    const again = await E.fork('f', forkSchema.parse({ count: 1, prefix: 'h' }));
    expect((await sh(again.children[0].name, 'hostname')).stdout).toBe('h-1\n');
    await expectConsistent();
  });
});

describe('hardening', () => {
  it('keeps run dirs 0700 and QEMU sockets 0600', async () => {
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    // with -runas, QEMU must still reach its run dir after dropping root (migration sockets), so
    // the dirs above it are root:<QEMU group> 0710: traversal for that group only, nothing for others
    const { qemuUser } = await import('../../lib/engine/argv');
    const u = qemuUser();
    for (const d of [env.run, path.join(env.run, 'vms')]) {
      const st = fs.statSync(d);
      if (u) expect([st.uid, st.gid, mode(d)], d).toEqual([0, u.gid, 0o710]);
      else expect(mode(d), d).toBe(0o700);
    }
    const t = await template();
    expect(mode(path.dirname(t.ramPath))).toBe(0o700);
    expect(mode(t.dir)).toBe(0o700);
    const kids = await db().vm.findMany({ where: { state: 'running' } });
    expect(kids.length).toBeGreaterThan(0);
    const report: Record<string, string> = {};
    for (const k of kids) {
      expect(mode(k.runDir), k.runDir).toBe(0o700);
      for (const s of ['qmp.sock', 'agent.sock', 'serial.sock']) {
        const f = path.join(k.runDir, s);
        expect(fs.statSync(f).isSocket()).toBe(true);
        expect(mode(f), f).toBe(0o600);
      }
      expect(mode(path.join(env.home, 'vms', k.id)), 'VM home dir').toBe(0o700);
      for (const f of [path.join(k.runDir, 'qemu.pid'), path.join(env.home, 'vms', k.id, 'serial.log'), k.diskPath!]) {
        if (fs.existsSync(f)) report[path.basename(f)] = (mode(f)).toString(8);
      }
    }
    console.log('file modes (inside 0700 dirs):', JSON.stringify(report));
  });

  it('runs warm-up commands inside the guest only, never on the host', async () => {
    expect(fs.existsSync(hostMarker)).toBe(false);
    const r = await sh('f-1', `cat ${hostMarker}; cat /tmp/warm`);
    // the marker exists in the guest (the template's memory carried it into the child), not on the host
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^ran-in-guest\n\S+\n$/);
  });

  it('refuses hostile names and counts through the service layer and the engine with nothing launched', async () => {
    const before = { pids: qemuPids(env.run).sort(), run: runEntries(env), vms: await db().vm.count(), tpls: await db().template.count() };
    // raw input goes through the one door that parses it (lib/services), as REST and server actions do
    const { forkTemplate, prepareTemplate } = await import('../../lib/services/templates');
    const { execInVm } = await import('../../lib/services/vms');
    const fork = (ref: string, raw: object) => forkTemplate(testAdmin, { ref, ...raw });
    const attempts: [Promise<unknown>, string][] = [
      [fork('f', { count: 2, prefix: 'x;touch /tmp/ic-pwn' }), 'invalid'],
      [fork('f', { count: 2, prefix: 'a,b' }), 'invalid'],
      [fork('f', { count: 1_000_000 }), 'invalid'],
      [fork('f', { count: -1 }), 'invalid'],
      [fork('f', { count: '2' }), 'invalid'],
      [fork('f; rm -rf /', { count: 1 }), 'not_found'],
      [fork('../../etc/passwd', { count: 1 }), 'not_found'],
      [prepareTemplate(testAdmin, { name: '$(touch /tmp/ic-pwn)' }), 'invalid'],
      [prepareTemplate(testAdmin, { name: 'ok', memory: 1e9 }), 'invalid'],
      [prepareTemplate(testAdmin, { name: 'ok', warmup: 'not-an-array' }), 'invalid'],
      [execInVm(testAdmin, { ref: '`id`', command: ['true'] }), 'not_found'],
      [E.fork('../../etc/passwd', forkSchema.parse({ count: 1 })), 'not_found'],
      [E.exec('`id`', execSchema.parse({ command: ['true'] })), 'not_found'],
      [E.remove('../templates'), 'not_found'],
    ];
    for (const [p, code] of attempts) {
      const e = (await p.then(() => null, (x) => x)) as (Error & { code: string }) | null;
      expect(e, `expected ${code}`).not.toBeNull();
      expect(e!.code).toBe(code);
      expect(e!.message.length).toBeLessThan(400);
    }
    expect(fs.existsSync('/tmp/ic-pwn')).toBe(false);
    expect({ pids: qemuPids(env.run).sort(), run: runEntries(env), vms: await db().vm.count(), tpls: await db().template.count() }).toEqual(before);
  });
});
