// Memory and CPU figures per VM (PSS / private / shared, CPU time) and of the host, for stats and the console.
import fs from 'node:fs';
import { meminfoKiB, smapsRollupKiB } from './host-probe';

export interface ProcMemory {
  rssKiB: number;
  pssKiB: number;
  sharedKiB: number;
  privateKiB: number;
  privateDirtyKiB: number;
}

export function procMemory(pid: number): ProcMemory | null {
  const f = smapsRollupKiB(pid);
  if (!f) return null;
  const k = (key: string) => f[key] ?? 0;
  return {
    rssKiB: k('Rss'),
    pssKiB: k('Pss'),
    sharedKiB: k('Shared_Clean') + k('Shared_Dirty'),
    privateKiB: k('Private_Clean') + k('Private_Dirty'),
    privateDirtyKiB: k('Private_Dirty'),
  };
}

export interface HostMemory {
  totalKiB: number;
  availableKiB: number;
  shmemKiB: number;
}

export function hostMemory(): HostMemory {
  const f = meminfoKiB();
  return { totalKiB: f.MemTotal ?? 0, availableKiB: f.MemAvailable ?? 0, shmemKiB: f.Shmem ?? 0 };
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
