// Kernel Same-page Merging (INSTACLONE_KSM). Children of one template hold identical pages that the
// template file cannot share: QEMU's heap, TCG's code buffer, guest pages every child wrote alike.
// The host's ksmd can merge them. QEMU madvises only guest RAM (`mem-merge`, on by default); a QEMU
// started with PR_SET_MEMORY_MERGE (Linux ≥ 6.4, kept across exec from 6.7; prctl.ts) is mergeable as a whole.
// Measured (bench/experiments/ksm.ts; README "KSM"): whole-process merging saves ~4 MiB PSS per idle
// tiny child, guest RAM alone ~1.4 MiB, for ksmd CPU on every core it scans.
// KSM lets one VM learn whether another holds a page (a merged page is slower to write), so it is the
// operator's choice and /api/health shows it: 'on' starts ksmd, 'auto' joins it only when the host
// runs it, 'off' opts every VM out.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { config } from '../config';
import { PR_SET_MEMORY_MERGE, PR_SET_THP_DISABLE, prctlUnavailable, withPrctl } from './prctl';

export const KSM_DIR = '/sys/kernel/mm/ksm';
export type KsmMode = 'off' | 'on' | 'auto';

export interface KsmStatus {
  mode: KsmMode;
  /** the host's ksmd is merging (run=1) */
  running: boolean;
  /** new QEMUs are mergeable as a whole (heap and TCG code too), not only their guest RAM */
  wholeProcess: boolean;
  /** pages_sharing × page size: what KSM saves on this host now (every mergeable process, not only VMs) */
  savedBytes: number;
  /** ksmd's scan settings in effect */
  settings?: { pagesToScan: number; sleepMs: number; advisor?: string };
  /** why KSM is not merging this engine's VMs (or only their guest RAM), when it is not fully on */
  reason?: string;
}

export interface KsmSysfs {
  run: number;
  pagesSharing: number;
  pagesToScan: number;
  sleepMs: number;
  /** advisor_mode (Linux ≥ 6.9): "none" or "scan-time"; absent on older kernels */
  advisor?: string;
}

/** ksmd's state from sysfs, or null when this kernel has no KSM. */
export function readKsm(dir = KSM_DIR): KsmSysfs | null {
  const rd = (f: string) => {
    try {
      return fs.readFileSync(path.join(dir, f), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const run = rd('run');
  if (run === undefined) return null;
  const advisor = rd('advisor_mode');
  return {
    run: Number(run),
    pagesSharing: Number(rd('pages_sharing') ?? 0),
    pagesToScan: Number(rd('pages_to_scan') ?? 0),
    sleepMs: Number(rd('sleep_millisecs') ?? 0),
    ...(advisor ? { advisor: /\[(.+?)\]/.exec(advisor)?.[1] ?? advisor } : {}),
  };
}

const state = globalThis as unknown as { __instacloneKsm?: { applyError?: string; whole?: { ok: boolean; reason?: string } } };
const st = () => (state.__instacloneKsm ??= {});

/**
 * Whether a process started through perl's prctl is mergeable after exec, probed once: the flag
 * must survive execve (Linux ≥ 6.7), read back from the exec'd program's /proc/self/ksm_stat.
 */
export function wholeProcessSupport(): { ok: boolean; reason?: string } {
  const s = st();
  if (s.whole) return s.whole;
  const no = prctlUnavailable();
  if (no) return (s.whole = { ok: false, reason: `${no}: only guest RAM is merged` });
  const { cmd, args } = withPrctl([PR_SET_MEMORY_MERGE], '/bin/cat', ['/proc/self/ksm_stat']);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (/ksm_merge_any: yes/.test(r.stdout ?? '')) return (s.whole = { ok: true });
  const why = (r.stderr ?? '').trim().split('\n')[0] || 'the flag did not survive exec';
  return (s.whole = { ok: false, reason: `this kernel cannot make a whole QEMU mergeable (${why}; needs Linux ≥ 6.7): only guest RAM is merged` });
}

/** Whether a QEMU spawned now is made mergeable as a whole: 'on', or 'auto' while the host's ksmd runs. */
export function mergeWholeProcess(mode: KsmMode = config().ksm): boolean {
  if (mode === 'off') return false;
  if (mode === 'auto' && readKsm()?.run !== 1) return false;
  return wholeProcessSupport().ok;
}

type Env = Record<string, string | undefined>;
/**
 * The command that starts QEMU (prctl.ts): wholly mergeable when KSM is to merge it, without
 * transparent huge pages when qemuThp says so; else QEMU itself.
 */
export function qemuCommand<E extends Env>(binary: string, argv: string[], env: E = {} as E): { cmd: string; args: string[]; env: E } {
  const opts = [...(mergeWholeProcess() ? [PR_SET_MEMORY_MERGE] : []), ...(!qemuThp(argv) && !prctlUnavailable() ? [PR_SET_THP_DISABLE] : [])];
  return withPrctl(opts, binary, argv, env);
}

/**
 * Whether this QEMU keeps transparent huge pages (INSTACLONE_QEMU_THP). `auto`: not under TCG, whose
 * code buffer QEMU madvises MADV_HUGEPAGE (an idle child held 12–14 MiB of mostly empty huge pages;
 * without them 33.1 → 29.6 MiB PSS at the same fork CPU: README); kept under KVM (guest RAM).
 */
export function qemuThp(argv: string[], mode = config().qemu.thp): boolean {
  if (mode !== 'auto') return mode === 'on';
  return !argv[argv.indexOf('-accel') + 1]?.startsWith('tcg');
}

/** Guest RAM is madvised mergeable (QEMU's default) unless KSM is off. */
export const guestRamMergeable = (mode: KsmMode = config().ksm) => mode !== 'off';

/**
 * At engine start: with INSTACLONE_KSM=on, starts the host's ksmd (run=1) at the host's own scan
 * settings (the kernel's 100 pages every 20 ms measured cheapest on two cores: README "KSM"). A failure is kept for /api/health and returned as one sentence, never thrown:
 * VMs run the same without KSM.
 */
export function applyKsm(mode: KsmMode = config().ksm, dir = KSM_DIR): string | undefined {
  const s = st();
  s.applyError = undefined;
  if (mode !== 'on') return undefined;
  const k = readKsm(dir);
  if (!k) return (s.applyError = `INSTACLONE_KSM=on, but this kernel has no KSM (${dir} is missing): VMs run without merging.`);
  if (k.run === 1) return undefined;
  if (process.getuid?.() !== 0) return (s.applyError = `INSTACLONE_KSM=on, but the engine is not root and ksmd is stopped: run "echo 1 > ${dir}/run" as root, or start the console as root.`);
  try {
    fs.writeFileSync(path.join(dir, 'run'), '1');
  } catch (e) {
    return (s.applyError = `INSTACLONE_KSM=on, but ${dir} cannot be written here (${(e as NodeJS.ErrnoException).code}): start ksmd on the host ("echo 1 > ${dir}/run").`);
  }
  return undefined;
}

let pageSize = 0;
function pageBytes(): number {
  if (!pageSize) {
    const r = spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' });
    pageSize = Number(r.stdout?.trim()) || 4096;
  }
  return pageSize;
}

/** What /api/health says about KSM. */
export function ksmStatus(mode: KsmMode = config().ksm, dir = KSM_DIR): KsmStatus {
  const k = readKsm(dir);
  if (!k) return { mode, running: false, wholeProcess: false, savedBytes: 0, reason: `this kernel has no KSM (${dir} is missing)` };
  const running = k.run === 1;
  const whole = mode === 'off' ? { ok: false } : wholeProcessSupport();
  const out: KsmStatus = {
    mode,
    running,
    wholeProcess: running && mode !== 'off' && whole.ok,
    savedBytes: k.pagesSharing * pageBytes(),
    settings: { pagesToScan: k.pagesToScan, sleepMs: k.sleepMs, ...(k.advisor ? { advisor: k.advisor } : {}) },
  };
  const reason =
    mode === 'off'
      ? `INSTACLONE_KSM=off: VMs opt out of merging${running ? ' (the host\'s ksmd runs for other processes)' : ''}`
      : st().applyError ??
        (!running
          ? mode === 'auto'
            ? 'the host\'s ksmd is stopped (INSTACLONE_KSM=auto joins it only when it runs; =on starts it)'
            : 'ksmd is stopped'
          : whole.ok
            ? undefined
            : whole.reason);
  if (reason) out.reason = reason;
  return out;
}
