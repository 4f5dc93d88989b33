// A host's memory in use, as its heartbeat reports it and the hosts view shows it: MemTotal −
// MemAvailable (one read of /proc/meminfo), and the PSS of the QEMUs this engine runs (one
// smaps_rollup read per QEMU: sampled at most every INSTACLONE_HOST_PSS_S, 30 s by default, since
// hundreds of them cost real time).
import { meminfoKiB, smapsRollupKiB } from '../engine/host-probe';

export interface HostMemoryUse {
  memoryUsedBytes: number;
  /** null: no QEMU's smaps_rollup could be read (another user's processes) */
  qemuPssBytes: number | null;
}

export function memoryUsedBytes(meminfo?: string): number {
  const f = meminfoKiB(meminfo);
  const avail = f.MemAvailable ?? (f.MemFree ?? 0) + (f.Cached ?? 0); // kernels < 3.14
  return Math.max(0, (f.MemTotal ?? 0) - avail) * 1024;
}

/** The PSS of `pids` added up, in bytes; 0 for none, null when none of them could be read. */
export function pssBytes(pids: number[], read = smapsRollupKiB): number | null {
  let sum = 0;
  let seen = 0;
  for (const pid of pids) {
    const f = read(pid);
    if (!f || f.Pss === undefined) continue;
    sum += f.Pss * 1024;
    seen++;
  }
  return pids.length && !seen ? null : sum;
}

/** Memory use now, with the QEMUs' PSS re-read only when the last sample is older than `everyMs`. */
export function memorySampler(pids: () => number[], everyMs = 30_000, now = () => Date.now()): () => HostMemoryUse {
  let at = -Infinity;
  let pss: number | null = null;
  return () => {
    if (now() - at >= everyMs) {
      pss = pssBytes(pids());
      at = now();
    }
    return { memoryUsedBytes: memoryUsedBytes(), qemuPssBytes: pss };
  };
}
