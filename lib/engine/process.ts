// Spawning QEMU processes and recognising them again (pidfile + /proc cmdline). QEMU is not
// daemonized: -daemonize forks, which the seccomp sandbox's spawn=deny forbids. The engine spawns it
// detached (its own process group and session: it outlives a console restart, then reparented to
// init), waits until QMP answers from QEMU's main loop (initialised: what -daemonize waited for), and
// writes the pidfile itself.
import { spawn } from 'node:child_process';
import { config } from '../config';
import fs from 'node:fs';
import net from 'node:net';
import { EngineError } from './errors';
import { sockets } from './argv';
import { qemuBinaryPath } from './qemu-version';
import { qemuCommand } from './ksm';

export interface Spawned {
  pid: number;
  spawnMs: number;
}

/** Longest a QEMU may take from exec to its QMP greeting (a loaded two-core host, many starting at once). */
const START_TIMEOUT_MS = 120_000;

/**
 * Resolves once QMP answers `qmp_capabilities` on `sock`: that answer comes from QEMU's main loop, so
 * its initialisation (privilege drop included) is over. The greeting alone is not enough: QMP's I/O
 * runs in its own thread and greets before -runas has taken effect. Rejects while not there yet.
 */
function greeting(sock: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let got = '';
    let asked = false;
    const done = (e?: Error) => {
      c.destroy();
      if (e) reject(e);
      else resolve();
    };
    c.on('data', (d) => {
      got += d;
      if (!asked && got.includes('"QMP"')) {
        asked = true;
        c.write('{"execute":"qmp_capabilities"}\n');
      } else if (asked && got.includes('"return"')) done();
    });
    c.once('error', done);
    c.once('close', () => done(new Error('closed before its greeting')));
    c.setTimeout(START_TIMEOUT_MS, () => done(new Error('no greeting')));
  });
}

/** The engine's pidfile for QEMU: a new 0600 file, never through a link put in its place. */
function writePidfile(file: string, pid: number): void {
  const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, `${pid}\n`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Starts QEMU detached and resolves once it has finished initialising (QMP answers), with
 * its pid (also written to the pidfile). `fds` are passed to QEMU as fds 3, 4, … (e.g. the checkpoint
 * file for `migrate-incoming fd:3`); no shell is involved. QEMU's stderr is read until then (for the
 * error of a failed start), then closed: QEMU ignores SIGPIPE, as it wrote to /dev/null when daemonized.
 */
export function spawnQemu(argv: string[], runDir: string, fds: number[] = []): Promise<Spawned> {
  const t0 = performance.now();
  const sk = sockets(runDir);
  return new Promise((resolve, reject) => {
    // through perl's prctl when KSM is to merge the whole process (ksm.ts); pid and cmdline are QEMU's after its exec
    const { cmd, args, env } = qemuCommand(qemuBinaryPath(), argv, qemuEnv());
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', ...fds], detached: true, cwd: '/', env });
    let stderr = '';
    let settled = false;
    child.stderr!.on('data', (d) => {
      if (stderr.length < 65536) stderr += d;
    });
    const fail = (e: EngineError) => {
      if (settled) return;
      settled = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(e);
    };
    const deadline = setTimeout(() => fail(new EngineError('qemu', `QEMU did not finish starting within ${START_TIMEOUT_MS / 1000} s; the host may be overloaded: try again.`)), START_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(deadline);
      fail(new EngineError('qemu', `Could not start ${qemuBinaryPath()} (${e.message}); install qemu-system-x86 or set INSTACLONE_QEMU.`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      const msg = stderr
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/warning: host doesn't support/.test(l));
      fail(new EngineError('qemu', `QEMU failed to start: ${msg.slice(-2).join(' ') || (signal ? `killed by ${signal}` : `exit code ${code}`)}`));
    });
    const poll = async () => {
      while (!settled) {
        try {
          if (fs.lstatSync(sk.qmp).isSocket()) {
            await greeting(sk.qmp);
            break;
          }
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      if (settled) return;
      try {
        writePidfile(sk.pidfile, child.pid!);
      } catch (e) {
        clearTimeout(deadline);
        fail(new EngineError('qemu', `Could not write QEMU's pidfile in ${runDir} (${(e as NodeJS.ErrnoException).code}): something else is there; stop the VM and try again.`));
        return;
      }
      settled = true;
      clearTimeout(deadline);
      child.removeAllListeners('exit');
      child.stderr!.destroy();
      child.unref(); // the console may exit (or restart) while QEMU runs on
      resolve({ pid: child.pid!, spawnMs: performance.now() - t0 });
    };
    void poll();
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
