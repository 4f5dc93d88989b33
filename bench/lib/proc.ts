// /proc sampling for the benchmark: memory (smaps_rollup, per-mapping smaps), CPU time (stat),
// and finding the QEMU processes that belong to this benchmark run. Linux only.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/PID/smaps_rollup (or one smaps mapping), in KiB. */
export interface MemKiB {
  rss: number;
  pss: number;
  pssAnon: number;
  pssFile: number;
  pssShmem: number;
  sharedClean: number;
  sharedDirty: number;
  privateClean: number;
  privateDirty: number;
  anonymous: number;
  swap: number;
}

const FIELD: Record<string, keyof MemKiB> = {
  Rss: 'rss',
  Pss: 'pss',
  Pss_Anon: 'pssAnon',
  Pss_File: 'pssFile',
  Pss_Shmem: 'pssShmem',
  Shared_Clean: 'sharedClean',
  Shared_Dirty: 'sharedDirty',
  Private_Clean: 'privateClean',
  Private_Dirty: 'privateDirty',
  Anonymous: 'anonymous',
  Swap: 'swap',
};

const emptyMem = (): MemKiB => ({
  rss: 0, pss: 0, pssAnon: 0, pssFile: 0, pssShmem: 0, sharedClean: 0, sharedDirty: 0,
  privateClean: 0, privateDirty: 0, anonymous: 0, swap: 0,
});

function addFields(into: MemKiB, lines: string[]) {
  for (const line of lines) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m && FIELD[m[1]]) into[FIELD[m[1]]] += Number(m[2]);
  }
}

/** Whole-process memory from /proc/PID/smaps_rollup; null when the process is gone. */
export function smapsRollup(pid: number): MemKiB | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const m = emptyMem();
  addFields(m, text.split('\n'));
  return m;
}

/**
 * Memory of the mappings whose path contains `needle` (e.g. the template RAM file), summed,
 * from /proc/PID/smaps. `sizeKiB` is the mapped size. Null when the process is gone.
 */
export function smapsMapping(pid: number, needle: string): (MemKiB & { sizeKiB: number; found: number }) | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return null;
  }
  const out = { ...emptyMem(), sizeKiB: 0, found: 0 };
  const lines = text.split('\n');
  let cur: string[] | null = null;
  const flush = () => {
    if (cur) addFields(out, cur);
    cur = null;
  };
  for (const line of lines) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      flush();
      if (line.includes(needle)) {
        out.found++;
        cur = [];
      }
    } else if (cur) {
      const s = /^Size:\s+(\d+) kB/.exec(line);
      if (s) out.sizeKiB += Number(s[1]);
      else cur.push(line);
    }
  }
  flush();
  return out;
}

/** utime + stime of a process (all threads), in seconds; null when gone. */
export function cpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / CLK_TCK;
}

export function processCmdline(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** PIDs of processes whose command line contains `needle` (e.g. this run's private temp dir). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    const argv = processCmdline(pid);
    if (argv && argv[0] && /qemu-system/.test(argv[0]) && argv.some((a) => a.includes(needle))) out.push(pid);
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Accelerator a running QEMU was started with, from its argv. */
export function accelOf(argv: string[]): 'kvm' | 'tcg' | 'unknown' {
  const s = argv.join(' ');
  if (/(-accel\s+kvm|accel=kvm|-enable-kvm)/.test(s)) return 'kvm';
  if (/(-accel\s+tcg|accel=tcg)/.test(s)) return 'tcg';
  return 'unknown';
}

/** Host-wide CPU time (all cores) from /proc/stat, in seconds: [busy, total]. */
export function hostCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

export function memAvailableMiB(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Mean CPU use (% of one core) of each pid over `ms`, sampled from /proc/PID/stat. */
export async function cpuPercentOver(pids: number[], ms: number): Promise<Map<number, number>> {
  const t0 = performance.now();
  const a = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  await new Promise((r) => setTimeout(r, ms));
  const dt = (performance.now() - t0) / 1000;
  const out = new Map<number, number>();
  for (const p of pids) {
    const x = a.get(p);
    const y = cpuSeconds(p);
    if (x != null && y != null) out.set(p, ((y - x) / dt) * 100);
  }
  return out;
}
