// Facts read from the host: /proc/meminfo, /proc/PID/smaps_rollup, statfs and allocated blocks.
// One reader for each, used by admission control and by the memory figures (metrics.ts).
import fs from 'node:fs';
import path from 'node:path';

export const MiB = 1024 * 1024;
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export interface DirFacts {
  path: string;
  freeMiB: number;
  totalMiB: number;
  /** tmpfs/ramfs: files here are RAM */
  inMemory: boolean;
}

/** The "Key:   N kB" fields of a /proc file, in KiB (absent keys read as undefined). */
function kbFields(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** /proc/meminfo in KiB. */
export function meminfoKiB(text = fs.readFileSync('/proc/meminfo', 'utf8')): Record<string, number> {
  return kbFields(text);
}

/** /proc/PID/smaps_rollup in KiB, or null when the process is gone or unreadable. */
export function smapsRollupKiB(pid: number): Record<string, number> | null {
  try {
    return kbFields(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return null;
  }
}

export function readMeminfo(text?: string): { memTotalMiB: number; memAvailableMiB: number } {
  const f = meminfoKiB(text);
  const mib = (k: string) => (f[k] === undefined ? NaN : f[k] / 1024);
  const memTotalMiB = mib('MemTotal');
  let memAvailableMiB = mib('MemAvailable');
  if (Number.isNaN(memAvailableMiB)) memAvailableMiB = mib('MemFree') + mib('Cached'); // kernels < 3.14
  return { memTotalMiB, memAvailableMiB };
}

/** statfs of `dir`, or of its nearest existing ancestor when it does not exist yet. */
export function dirFacts(dir: string): DirFacts {
  let p = path.resolve(dir);
  for (;;) {
    try {
      const s = fs.statfsSync(p);
      return {
        path: dir,
        freeMiB: (s.bavail * s.bsize) / MiB,
        totalMiB: (s.blocks * s.bsize) / MiB,
        inMemory: s.type === TMPFS_MAGIC || s.type === RAMFS_MAGIC,
      };
    } catch {
      const up = path.dirname(p);
      if (up === p) return { path: dir, freeMiB: 0, totalMiB: 0, inMemory: false };
      p = up;
    }
  }
}

/** `Anonymous` and `Pss` of a process in MiB (smaps_rollup), or null when it is gone or unreadable. */
export function processMemory(pid: number): { anonymousMiB: number; pssMiB: number; rssMiB: number } | null {
  const f = smapsRollupKiB(pid);
  if (!f) return null;
  const mib = (k: string) => (f[k] ?? 0) / 1024;
  return { anonymousMiB: mib('Anonymous'), pssMiB: mib('Pss'), rssMiB: mib('Rss') };
}

/** Bytes really allocated by a file or a tree (st_blocks: sparse RAM files count only their written pages). */
export function allocatedBytes(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.blocks * 512;
  let sum = 0;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(p);
  } catch {
    return 0;
  }
  for (const e of entries) sum += allocatedBytes(path.join(p, e));
  return sum;
}
