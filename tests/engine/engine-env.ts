// Shared set-up for the engine integration tests: a private INSTACLONE_HOME / INSTACLONE_RUN and
// SQLite database per test file, the tiny image from the shared cache, and a teardown that kills
// every QEMU under the run dir (by pidfile and /proc) and removes the temp dirs, even on failure.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

export interface EngineEnv {
  home: string;
  run: string;
}

/**
 * An admin caller of the service layer (lib/services): raw, hostile input is refused there, at the one
 * boundary that parses with the shared schemas; the engine itself takes parsed, typed input.
 */
export const testAdmin = { kind: 'local', name: 'tester', role: 'admin' } as const;

/** Bridged networking can be tested here: root, `ip netns` and /dev/net/tun (inside a namespace of the test's own). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { timeout: 60_000, stdio: 'ignore' });
    return fs.existsSync('/dev/net/tun');
  } catch {
    return false;
  }
}

export function setupEnv(tag: string): EngineEnv {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `ic-${tag}-`));
  const home = path.join(base, 'home');
  const run = path.join('/dev/shm', `ic-${tag}-${path.basename(base)}`);
  fs.mkdirSync(home, { recursive: true });
  process.env.INSTACLONE_HOME = home;
  process.env.INSTACLONE_RUN = run;
  process.env.DATABASE_URL = `file:${path.join(home, 'instaclone.db')}`;
  process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache', 'instaclone', 'images');
  const lo = 30000 + Math.floor(Math.random() * 300) * 100;
  process.env.INSTACLONE_PORT_RANGE ??= `${lo}-${lo + 99}`;
  return { home, run };
}

/** Live QEMU pids whose command line mentions `dir`. */
export function qemuPids(dir: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmd.includes('qemu-system') && cmd.includes(dir + '/') && st !== 'Z') out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Shuts the engine down, SIGKILLs any QEMU still under `run`, closes the database; never throws. Returns the pids it had to kill. */
export async function stopEverything(run: string): Promise<number[]> {
  try {
    const { Engine } = await import('../../lib/engine');
    await Engine.get().shutdown({ killAll: true });
  } catch {
    /* keep cleaning */
  }
  const left = qemuPids(run);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  try {
    const { disconnectDb } = await import('../../lib/db');
    await disconnectDb();
  } catch {
    /* ignore */
  }
  return left;
}

export async function teardownEnv(env: EngineEnv): Promise<number[]> {
  const left = await stopEverything(env.run);
  fs.rmSync(env.run, { recursive: true, force: true });
  fs.rmSync(path.dirname(env.home), { recursive: true, force: true });
  return left;
}

/** Writes a file in `dir` until the file system says ENOSPC (in shrinking chunks); returns its path. */
export function fillUp(dir: string): string {
  const f = path.join(dir, 'filler');
  const fd = fs.openSync(f, 'w');
  try {
    for (const size of [1 << 20, 4096, 512]) {
      const buf = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return f;
}

/** Files left under the run dir's vms/ that no VM or slot owns. */
export function runEntries(env: EngineEnv): string[] {
  const d = path.join(env.run, 'vms');
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

/** `p` is refused with an EngineError of `code` whose sentence matches `re`; returns the error. */
export async function expectEngineError(p: Promise<unknown>, code: string, re: RegExp): Promise<Error & { code: string }> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err, 'expected an EngineError').toBeTruthy();
  expect(err.name).toBe('EngineError');
  expect(err.code).toBe(code);
  expect(err.message).toMatch(re);
  return err;
}

type Db = typeof import('../../lib/db').db;
type EngineT = import('../../lib/engine').Engine;

/** Migrates this file's database and starts the engine (after setupEnv: the modules read the env when first imported). */
export async function startEngine(): Promise<{ E: EngineT; db: Db }> {
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  const { Engine } = await import('../../lib/engine');
  const E = Engine.get();
  await E.start();
  return { E, db: dbm.db };
}

/**
 * The leak check every engine test ends its steps with: every QEMU under the run dir is a VM's, a
 * slot's or a reset spare's (spare.ts, listed by the engine), every run dir entry belongs to a live
 * VM, a slot or a spare (a VM reset from a spare keeps the spare's run dir), every template run dir
 * to a template row, and no lease or pool member outlives its VM. `homes` also checks the VMs'
 * directories under INSTACLONE_HOME.
 */
export async function expectNoLeftovers(env: EngineEnv, E: EngineT, db: Db, opts: { homes?: boolean } = {}): Promise<void> {
  await E.settled(); // background slot top-ups and reset spares (topup.ts, spare.ts) have landed
  const vms = await db().vm.findMany();
  const slots = await db().slot.findMany();
  const spares = E.spares();
  const pids = new Set([...vms.map((v) => v.pid), ...slots.map((s) => s.pid), ...spares.map((s) => s.pid)].filter(Boolean));
  expect(qemuPids(env.run).sort()).toEqual([...pids].sort());
  const live = vms.filter((v) => v.state === 'running' || v.state === 'starting').map((v) => path.basename(v.runDir));
  const owned = new Set([...live, ...slots.map((s) => s.id), ...spares.map((s) => path.basename(s.runDir))]);
  expect(runEntries(env).filter((e) => !owned.has(e))).toEqual([]);
  const tplDirs = fs.existsSync(`${env.run}/templates`) ? fs.readdirSync(`${env.run}/templates`).sort() : [];
  expect(tplDirs).toEqual((await db().template.findMany()).map((t) => t.id).sort());
  const ids = new Set([...vms.map((v) => v.id), ...slots.map((s) => s.id)]);
  expect((await db().poolMember.findMany()).filter((m) => !ids.has(m.vmId))).toEqual([]);
  expect((await db().lease.findMany()).filter((l) => !ids.has(l.vmId))).toEqual([]);
  if (opts.homes) {
    const homes = fs.existsSync(`${env.home}/vms`) ? fs.readdirSync(`${env.home}/vms`) : [];
    const mine = new Set([...ids, ...spares.map((s) => path.basename(s.runDir))]);
    expect(homes.filter((h) => !mine.has(h))).toEqual([]);
  }
}

/** Polls `fn` every 200 ms until it answers something truthy (errors count as "not yet"); `log` adds context to the timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false | 0>, ms = 120_000, log: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}${log() ? `\n${log()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Ends a many-hosts test: stops each agent (its VMs stay running for adoption, so any QEMU still
 * under its run dir is killed and returned as a leak), removes the console's run dir and `base`, and
 * closes the console's engine, database, job queue and PostgreSQL pool. Returns the leaked pids.
 */
export async function teardownCluster(agents: import('../../bench/lib/agents').LocalAgent[], consoleRun: string, base: string): Promise<number[]> {
  const { stopLocalAgent } = await import('../../bench/lib/agents');
  for (const a of agents) await stopLocalAgent(a, qemuPids);
  const left = agents.flatMap((a) => qemuPids(a.run));
  fs.rmSync(consoleRun, { recursive: true, force: true });
  fs.rmSync(base, { recursive: true, force: true });
  await (await import('../../lib/engine')).Engine.get().shutdown();
  await (await import('../../lib/db')).disconnectDb();
  await (await import('../../lib/cluster/jobs')).closeJobUtils();
  await (await import('../../lib/cluster/pg')).closeClusterPg();
  return left;
}
