// Memory accounting: per-VM PSS / private / shared from /proc/PID/smaps_rollup, host meminfo.
import fs from 'node:fs';

export interface ProcMemory {
  rssKiB: number;
  pssKiB: number;
  sharedKiB: number;
  privateKiB: number;
  privateDirtyKiB: number;
}

export function procMemory(pid: number): ProcMemory | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return {
    rssKiB: f('Rss'),
    pssKiB: f('Pss'),
    sharedKiB: f('Shared_Clean') + f('Shared_Dirty'),
    privateKiB: f('Private_Clean') + f('Private_Dirty'),
    privateDirtyKiB: f('Private_Dirty'),
  };
}

export interface HostMemory {
  totalKiB: number;
  availableKiB: number;
  shmemKiB: number;
}

export function hostMemory(): HostMemory {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { totalKiB: f('MemTotal'), availableKiB: f('MemAvailable'), shmemKiB: f('Shmem') };
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ): 100 on every Linux build we run on. */
const USER_HZ = 100;

/**
 * CPU time (user + system, all threads) a process has used, in ms; null when it is gone. A child's
 * QEMU from fork to ready is the floor for fork throughput on a few cores (under TCG it is mostly
 * the guest's emulated work).
 */
export function procCpuMs(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and ')': fields start after the last ')'; utime/stime are fields 14/15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}
