// Spawning daemonized QEMU processes and recognising them again (pidfile + /proc cmdline).
import { spawn } from 'node:child_process';
import { config } from '../config';
import fs from 'node:fs';
import { EngineError } from './errors';
import { sockets } from './argv';
import { qemuBinaryPath } from './qemu-version';

export interface Spawned {
  pid: number;
  spawnMs: number;
}

/**
 * Starts QEMU with `-daemonize`: resolves once the daemon has finished initialising (the
 * foreground process exits), with the daemon's pid from the pidfile. `fds` are passed to QEMU as
 * fds 3, 4, … (e.g. the checkpoint file for `migrate-incoming fd:3`); no shell is involved.
 */
export function spawnQemu(argv: string[], runDir: string, fds: number[] = []): Promise<Spawned> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(qemuBinaryPath(), argv, { stdio: ['ignore', 'ignore', 'pipe', ...fds], detached: true, env: qemuEnv() });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (e) =>
      reject(new EngineError('qemu', `Could not start ${qemuBinaryPath()} (${e.message}); install qemu-system-x86 or set INSTACLONE_QEMU.`)),
    );
    child.on('close', (code) => {
      const msg = stderr
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/warning: host doesn't support/.test(l));
      if (code !== 0) {
        reject(new EngineError('qemu', `QEMU failed to start: ${msg.slice(-2).join(' ') || `exit code ${code}`}`));
        return;
      }
      const pid = readPidfile(sockets(runDir).pidfile);
      if (!pid) {
        reject(new EngineError('qemu', `QEMU started but wrote no pidfile in ${runDir}.`));
        return;
      }
      resolve({ pid, spawnMs: performance.now() - t0 });
    });
  });
}

/**
 * QEMU's environment: ours, with glibc's malloc arenas capped (INSTACLONE_QEMU_MALLOC_ARENAS,
 * default below; 0 = glibc's own default of 8 per core). Each QEMU thread that mallocs can get an
 * arena of its own, whose touched pages are private to that child.
 */
export function qemuEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const n = config(env).qemuMallocArenas;
  const out = { ...env };
  if (n > 0) out.MALLOC_ARENA_MAX = String(n);
  return out;
}

export function readPidfile(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** True when `pid` is alive and is a QEMU whose command line mentions `runDir` (our VM, not a reused pid). */
export function isOurQemu(pid: number | null | undefined, runDir: string): boolean {
  if (!pid) return false;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes(runDir + '/')) return false;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

/** SIGKILLs our QEMU (only if the pid still is ours) and waits until it is gone. */
export async function killQemu(pid: number | null | undefined, runDir: string, timeoutMs = 3000): Promise<void> {
  if (!pid || !isOurQemu(pid, runDir)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Every live QEMU process whose command line mentions `dir` (pid list), from /proc. */
export function qemuPidsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.startsWith(qemuBinaryPath()) || cmd.includes('qemu-system')) {
        if (cmd.includes(dir + '/') && pidAlive(Number(e))) out.push(Number(e));
      }
    } catch {
      /* gone */
    }
  }
  return out;
}
