// A full disk (INSTACLONE_HOME) in the middle of a fork of persistent children, against real QEMU:
// INSTACLONE_HOME is a small tmpfs holding the database, the template's checkpoint and base disk
// and the children's delta disks; it fills up once the first child is running. The fork must fail
// the rest cleanly, roll back, and leave the host (processes, files, database) as it was.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillUp, qemuPids, runEntries, setupEnv, startEngine, stopEverything, teardownEnv } from './engine-env';
import { execSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('fdisk');
process.env.INSTACLONE_FORK_CONCURRENCY = '1';
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
let mounted = false;

async function state() {
  const vms = await db().vm.findMany();
  return {
    pids: qemuPids(env.run).sort(),
    run: runEntries(env),
    vms: vms.map((v) => `${v.name}:${v.state}:${v.pid}`).sort(),
    leases: (await db().lease.findMany()).map((l) => l.vmId).sort(),
    homeVms: fs.existsSync(path.join(env.home, 'vms')) ? fs.readdirSync(path.join(env.home, 'vms')).sort() : [],
  };
}

beforeAll(async () => {
  fs.mkdirSync(env.home, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0700', 'tmpfs', env.home], { timeout: 60_000, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  mounted = true;
  ({ E, db } = await startEngine());
  // the whole INSTACLONE_HOME is 256 MiB here: keep only 8 MiB free for admission
  const { setLimits } = await import('../../lib/engine/limits');
  await setLimits({ minFreeHomeMiB: 8 });
  await E.prepare(prepareSchema.parse({ name: 'd', memory: 256, quiesce: true }));
  const f = await E.fork('d', { count: 1, persistent: true });
  expect(f.children[0].persistent).toBe(true);
});

afterAll(async () => {
  // what the engine's own shutdown left running (killed now, asserted at the end); the database closed before the umount
  const left = await stopEverything(env.run);
  if (mounted && spawnSync('umount', [env.home], { timeout: 60_000 }).status !== 0) spawnSync('umount', ['-l', env.home], { timeout: 60_000 });
  await teardownEnv(env);
  expect(left, 'QEMU left running after the engine shut down').toEqual([]);
  expect(qemuPids(env.run)).toEqual([]);
  expect(spawnSync('pgrep', ['-f', env.run], { timeout: 60_000, encoding: 'utf8' }).stdout.trim()).toBe('');
});

describe('a full INSTACLONE_HOME in the middle of a persistent fork', () => {
  let before: Awaited<ReturnType<typeof state>>;
  let after: Awaited<ReturnType<typeof state>>;

  it('fails the rest of the fork cleanly: no process, file or VM row of it is left', async () => {
    before = await state();
    let filler: string | null = null;
    const on = (e: Record<string, unknown>) => {
      if (e.type === 'vm' && typeof e.name === 'string' && e.name.startsWith('p-') && e.state === 'running' && !filler) filler = fillUp(env.home);
    };
    E.events.on('event', on);
    let err: (Error & { code?: string }) | null = null;
    try {
      await E.fork('d', { count: 3, persistent: true, prefix: 'p' });
    } catch (e) {
      err = e as Error;
    } finally {
      E.events.off('event', on);
    }
    expect(filler, 'the first child never came up').not.toBeNull();
    console.log(`disk full mid-fork: code=${err?.code} message=${JSON.stringify(err?.message)}`);
    expect(err, 'the fork should fail once the disk is full').not.toBeNull();
    expect(err!.message).toMatch(/No space left on device|ENOSPC|SQLITE_FULL|disk is full/i);
    // checked while the disk is still full: the task row is ended through the space reserve (lib/engine/reserve.ts)
    expect(await db().task.findMany({ where: { state: 'running' }, select: { kind: true, targetName: true } }), 'the failed fork left its task running').toEqual([]);
    fs.rmSync(filler!);
    after = await state();
    console.log('before', JSON.stringify(before), '\nafter ', JSON.stringify(after));
    expect(after).toEqual(before);
  });

  it('leaves no lease of a rolled-back child (row and lease are forgotten together)', async () => {
    expect(after.leases).toEqual(before.leases);
  });

  it('after an engine restart the database matches again, the sibling is unharmed and forking works', async () => {
    const { Engine } = await import('../../lib/engine');
    await E.shutdown();
    E = Engine.get();
    const r0 = await E.start();
    expect(r0.adopted).toHaveLength(1);
    expect(await state()).toEqual(before);
    const r = await E.exec('d-1', execSchema.parse({ command: ['/bin/sh', '-c', 'echo ok'], timeoutMs: 20_000 }));
    expect(r.stdout).toBe('ok\n');
    const again = await E.fork('d', { count: 1, persistent: true, prefix: 'q' });
    expect(again.children).toHaveLength(1);
  });
});
