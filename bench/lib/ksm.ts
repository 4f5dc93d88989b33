// KSM measurement for the benchmark and bench/experiments/ksm.ts (root only): start the host's ksmd
// with given settings, wait until a set of processes' merged pages stop growing, read ksmd's CPU
// time, and put every setting back (run=2 unmerges everything, then run=0 or whatever was there).
import fs from 'node:fs';
import path from 'node:path';
import { cpuSeconds } from './proc';

export const KSM = '/sys/kernel/mm/ksm';
const rd = (f: string) => fs.readFileSync(path.join(KSM, f), 'utf8').trim();
const wr = (f: string, v: string) => fs.writeFileSync(path.join(KSM, f), v);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KsmSettings {
  pages_to_scan?: string;
  sleep_millisecs?: string;
  /** "none" | "scan-time" (Linux ≥ 6.9) */
  advisor_mode?: string;
  advisor_target_scan_time?: string;
}

/** Why KSM cannot be measured here, or null. */
export function ksmUnavailable(): string | null {
  if (!fs.existsSync(path.join(KSM, 'run'))) return `this kernel has no KSM (${KSM} is missing)`;
  if (process.getuid?.() !== 0) return 'not root (ksmd is started through /sys/kernel/mm/ksm)';
  if (ksmdPid() == null) return 'no ksmd thread found';
  return null;
}

export function ksmdPid(): number | null {
  for (const d of fs.readdirSync('/proc')) {
    try {
      if (/^\d+$/.test(d) && fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'ksmd') return Number(d);
    } catch {
      /* gone */
    }
  }
  return null;
}

/** Pages of `pid` that KSM merged (/proc/PID/ksm_merging_pages). */
export function mergingPages(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/ksm_merging_pages`, 'utf8').trim());
  } catch {
    return 0;
  }
}

/** Processes ksmd scans (with KSM rmap items): other VMs on the host cost ksmd CPU too. */
export function mergeableProcesses(): number {
  let n = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (/ksm_rmap_items [1-9]/.test(fs.readFileSync(`/proc/${d}/ksm_stat`, 'utf8'))) n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

/** Saves the host's KSM settings, applies `set` with ksmd stopped and nothing merged; `restore()` puts them back. */
export function ksmSession(set: KsmSettings) {
  // advisor_mode first: while the scan-time advisor is on, the kernel refuses pages_to_scan (EINVAL)
  const keys = ['run', 'advisor_mode', 'pages_to_scan', 'sleep_millisecs', 'advisor_target_scan_time'].filter((k) => fs.existsSync(path.join(KSM, k)));
  const saved = Object.fromEntries(keys.map((k) => [k, rd(k).replace(/^.*\[(.*)\].*$/, '$1')]));
  const pid = ksmdPid()!;
  const stop = () => {
    wr('run', '2'); // unmerge everything: the next reading starts from nothing merged
    wr('run', '0');
  };
  stop();
  for (const k of keys) if (set[k as keyof KsmSettings] !== undefined && !(k === 'pages_to_scan' && set.advisor_mode === 'scan-time')) wr(k, set[k as keyof KsmSettings]!);
  return {
    settings: { ...Object.fromEntries(keys.filter((k) => k !== 'run').map((k) => [k, rd(k).replace(/^.*\[(.*)\].*$/, '$1')])) },
    /** starts ksmd and waits until `pids`' merged pages grow by < 0.5 % over 3 polls 2 s apart (after ≥ 2 full scans) or `boundS` */
    async merge(pids: number[], boundS = 240) {
      const scans0 = Number(rd('full_scans'));
      const c0 = cpuSeconds(pid)!;
      const t0 = performance.now();
      wr('run', '1');
      let last = -1;
      let stable = 0;
      let settled = false;
      while ((performance.now() - t0) / 1000 < boundS) {
        await sleep(2000);
        const m = pids.reduce((a, p) => a + mergingPages(p), 0);
        stable = last >= 0 && m - last <= Math.max(16, last * 0.005) ? stable + 1 : 0;
        last = m;
        if (stable >= 3 && Number(rd('full_scans')) - scans0 >= 2) {
          settled = true;
          break;
        }
      }
      return {
        settled,
        settleS: (performance.now() - t0) / 1000,
        cpuS: cpuSeconds(pid)! - c0,
        fullScans: Number(rd('full_scans')) - scans0,
        mergedPages: pids.reduce((a, p) => a + mergingPages(p), 0),
        pagesSharing: Number(rd('pages_sharing')),
        pagesShared: Number(rd('pages_shared')),
        pagesToScan: Number(rd('pages_to_scan')),
        mergeableProcesses: mergeableProcesses(),
      };
    },
    /** ksmd's CPU (% of a core) over `seconds` while it keeps scanning */
    async steadyPct(seconds = 15) {
      const c = cpuSeconds(pid)!;
      const t = performance.now();
      await sleep(seconds * 1000);
      return (100 * (cpuSeconds(pid)! - c)) / ((performance.now() - t) / 1000);
    },
    stop,
    restore() {
      try {
        stop();
      } finally {
        // every setting is tried (one refused write must not leave ksmd running or the rest unrestored)
        const failed: string[] = [];
        for (const k of keys) {
          if (k === 'run' || (k === 'pages_to_scan' && saved.advisor_mode === 'scan-time')) continue;
          try {
            wr(k, saved[k]);
          } catch (e) {
            failed.push(`${k}=${saved[k]} (${(e as NodeJS.ErrnoException).code})`);
          }
        }
        wr('run', saved.run === '1' ? '1' : '0');
        if (failed.length) throw new Error(`could not restore ${KSM}: ${failed.join(', ')}`);
      }
    },
  };
}
