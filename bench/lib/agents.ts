// Agents as child processes on this machine (`bin/agent.ts`), for the many-hosts test and bench:
// a fresh PostgreSQL database, and per agent its own home, run dir, port, port range and schema.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A fresh database from scripts/test-postgres.sh (needs root and Debian's postgresql), else null. */
export function freshDatabase(): string | null {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts/test-postgres.sh')], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

export interface LocalAgent {
  name: string;
  port: number;
  home: string;
  run: string;
  env: NodeJS.ProcessEnv;
  proc?: ChildProcess;
  log: string[];
}

/** Agents named `names` under `base` (a 0711 temp dir: per-VM QEMU uids pass through it). */
export function localAgents(names: string[], base: string, opts: { url: string; secret: string; portBase: number; env?: Record<string, string> }): LocalAgent[] {
  return names.map((name, i) => {
    const lo = 40000 + i * 1000 + Math.floor(Math.random() * 9) * 100; // guests' forwarded ports: a range per agent
    const a: LocalAgent = { name, port: opts.portBase + i, home: path.join(base, name), run: `/dev/shm/${path.basename(base)}-${name}`, log: [], env: {} as NodeJS.ProcessEnv };
    a.env = {
      ...process.env,
      DATABASE_URL: opts.url,
      INSTACLONE_HOST_NAME: name,
      INSTACLONE_AGENT_SECRET: opts.secret,
      INSTACLONE_HOME: a.home,
      INSTACLONE_RUN: a.run,
      PORT: String(a.port),
      INSTACLONE_PORT_RANGE: `${lo}-${lo + 99}`,
      INSTACLONE_IMAGE_CACHE: process.env.INSTACLONE_IMAGE_CACHE ?? path.join(os.homedir(), '.cache', 'instaclone', 'images'),
      ...opts.env,
    };
    return a;
  });
}

export function startLocalAgent(a: LocalAgent): void {
  fs.mkdirSync(a.home, { recursive: true });
  a.proc = spawn(process.execPath, ['--import', path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), path.join(repoRoot, 'bin/agent.ts')], {
    cwd: repoRoot,
    env: a.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const s of [a.proc.stdout!, a.proc.stderr!]) s.on('data', (d) => a.log.push(String(d)));
}

/** SIGTERM (then wait), SIGKILL any QEMU left under its run dir, remove its run dir; returns the pids it had to kill. */
export async function stopLocalAgent(a: LocalAgent, qemuPids: (dir: string) => number[]): Promise<number[]> {
  if (a.proc && a.proc.exitCode === null && a.proc.signalCode === null) {
    a.proc.kill('SIGTERM');
    await new Promise((r) => (a.proc!.exitCode !== null ? r(null) : a.proc!.once('exit', r)));
  }
  const left = qemuPids(a.run);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  fs.rmSync(a.run, { recursive: true, force: true });
  return left;
}
