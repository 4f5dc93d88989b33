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
