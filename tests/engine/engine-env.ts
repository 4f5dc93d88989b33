// Shared set-up for the engine integration tests: a private INSTACLONE_HOME / INSTACLONE_RUN and
// SQLite database per test file, the tiny image from the shared cache, and a teardown that kills
// every QEMU under the run dir (by pidfile and /proc) and removes the temp dirs, even on failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface EngineEnv {
  home: string;
  run: string;
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
