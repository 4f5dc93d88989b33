// Kernel Same-page Merging (KSM) for idle children, measured in ONE run (issue 17):
//   sudo npx tsx bench/experiments/ksm.ts [counts=10,30] [rounds=1]
// Per round and count N, for each mode (alternating order): fork N tiny children (fresh VMMs), let
// them idle, read PSS per child with ksmd stopped; start ksmd, poll until the merged pages of these
// children stop growing (or a bound), read PSS again, ksmd's CPU time spent merging and per second
// afterwards (steady state); then unmerge everything (run=2) and remove the children.
// Modes (KSM_MODES, default madvise,whole; also nothp, whole-nothp): `madvise` = QEMU as spawned (only guest RAM is MADV_MERGEABLE: `-machine mem-merge=on` is
// QEMU's default); `whole` = QEMU exec'd with PR_SET_MEMORY_MERGE set (prctl through perl's syscall,
// kept across exec since Linux 6.7), so its heap and TCG code buffer are candidates too; `nothp` =
// QEMU exec'd with PR_SET_THP_DISABLE (kept across exec).
// Settings (env): KSM_PAGES (pages_to_scan, default 1000), KSM_SLEEP (sleep_millisecs, 20),
// KSM_ADVISOR (none | scan-time), KSM_TARGET_S (advisor_target_scan_time, 200), KSM_MODES
// (madvise,whole), KSM_IDLE_S (idle before the first reading, 30), KSM_SETTLE_S (bound of the merge
// wait, 240; 0 = no merging: compare the modes' own PSS and fork CPU), KSM_STEADY_S (15).
// Needs root (writes /sys/kernel/mm/ksm); restores the settings and leaves run=0 at the end.
// ksmd scans every mergeable process on the host, other engineers' QEMUs included: its CPU is
// reported beside the number of mergeable processes seen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { forkSchema, prepareSchema } from '../../lib/validations';

const COUNTS = (process.argv[2] ?? '10,30').split(',').map(Number);
const ROUNDS = Number(process.argv[3] ?? 1);
const MODES = (process.env.KSM_MODES ?? 'madvise,whole').split(',');
const SET = {
  pages_to_scan: process.env.KSM_PAGES ?? '1000',
  sleep_millisecs: process.env.KSM_SLEEP ?? '20',
  advisor_mode: process.env.KSM_ADVISOR ?? 'none',
  advisor_target_scan_time: process.env.KSM_TARGET_S ?? '200',
};
const SETTLE_S = Number(process.env.KSM_SETTLE_S ?? 240);
const STEADY_S = Number(process.env.KSM_STEADY_S ?? 15);
const IDLE_S = Number(process.env.KSM_IDLE_S ?? 30);
const PAGE_KIB = 4;

// the real QEMU behind a wrapper that sets prctl options (157 on x86-64), then execs it: 67 =
// PR_SET_MEMORY_MERGE (whole process mergeable), 41 = PR_SET_THP_DISABLE (no transparent huge pages:
// QEMU madvises its TCG code buffer MADV_HUGEPAGE, so a child holds whole 2 MiB pages of little code)
const realQemu = process.env.INSTACLONE_QEMU ?? '/usr/bin/qemu-system-x86_64';
const wrapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-ksm-wrap-'));
fs.chmodSync(wrapDir, 0o755);
const wrapperFor = (opts: number[]) => {
  const f = path.join(wrapDir, `q${opts.join('-')}`);
  fs.mkdirSync(f, { mode: 0o755 });
  const calls = opts.map((o) => `syscall(157, ${o}, 1, 0, 0, 0) == 0 or die "prctl ${o}: $!\\n";`).join(' ');
  fs.writeFileSync(path.join(f, 'qemu-system-x86_64'), `#!/bin/sh\nexec /usr/bin/perl -e '${calls} exec { $ARGV[0] } @ARGV or die "exec: $!\\n"' ${realQemu} "$@"\n`, { mode: 0o755 });
  return path.join(f, 'qemu-system-x86_64');
};
const MODE_QEMU: Record<string, string> = { madvise: realQemu, whole: wrapperFor([67]), nothp: wrapperFor([41]), 'whole-nothp': wrapperFor([67, 41]) };
process.env.INSTACLONE_QEMU_DATADIR ??= ''; // the wrapper's folder is not a QEMU prefix

const { experimentEngine } = await import('../lib/experiment');
const { smapsRollup } = await import('../lib/proc');
const { ksmSession, ksmUnavailable } = await import('../lib/ksm');
const why = ksmUnavailable();
if (why) throw new Error(`KSM cannot be measured here: ${why}`);
const { engine, done } = await experimentEngine('ic-ksm');
const median = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] : NaN);
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / (a.length || 1);
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const anonHugeKiB = (pid: number) => {
  try {
    return Number(/^AnonHugePages:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
};
const pssOf = (pids: number[]) => pids.map((p) => (smapsRollup(p)?.pss ?? NaN) / 1024);

interface Row {
  n: number; mode: string; round: number; forkMs: number; cpuMsPerChild: number; anonHugeMiB: number;
  pssOff: number; pssOn: number; pssOffAfter: number; meanOff: number; meanOn: number;
  mergedMiBPerChild: number; settleS: number; settled: boolean; ksmdCpuMergeS: number; ksmdCpuMsPerChild: number;
  steadyPctCore: number; pagesSharing: number; pagesShared: number; fullScans: number; mergeableProcs: number; load: number;
}
const rows: Row[] = [];
const ksm = ksmSession(SET);
try {
  const tpl = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: 'ksm', memory: 256 }));
  console.log(`template: boot ${tpl.timings.bootMs} ms; ksm settings ${JSON.stringify(ksm.settings)}`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of COUNTS) {
      const order = (round + COUNTS.indexOf(n)) % 2 ? [...MODES].reverse() : MODES;
      for (const mode of order) {
        process.env.INSTACLONE_QEMU = MODE_QEMU[mode];
        const t0 = performance.now();
        const f = (await engine.fork(tpl.id, forkSchema.parse({ count: n, prefix: `${mode[0]}${n}-${round}` }))) as import('../../lib/engine').ForkResult;
        const forkMs = performance.now() - t0;
        await sleep(IDLE_S * 1000); // past the first seconds' drift (PSS falls ~2 MiB in the first half minute)
        const ls = await engine.list();
        const pids = f.children.map((c) => ls.vms.find((x) => x.id === c.id)?.pid).filter((p): p is number => !!p);
        if (mode.startsWith('whole') && !/ksm_merge_any: yes/.test(fs.readFileSync(`/proc/${pids[0]}/ksm_stat`, 'utf8'))) throw new Error('the wrapper did not make QEMU mergeable');
        const off = pssOf(pids);
        const thp = median(pids.map(anonHugeKiB));
        const cpuChild = median((f.details ?? []).map((d) => d.cpuMs ?? NaN));
        // KSM_SETTLE_S=0: no merging at all (PSS and fork CPU of the modes only, e.g. THP on vs off)
        const m = SETTLE_S > 0 ? await ksm.merge(pids, SETTLE_S) : { settled: false, settleS: 0, cpuS: 0, mergedPages: 0, pagesSharing: 0, pagesShared: 0, fullScans: 0, mergeableProcesses: 0 };
        const on = pssOf(pids);
        const steadyPct = SETTLE_S > 0 ? await ksm.steadyPct(STEADY_S) : 0;
        ksm.stop();
        const offAfter = pssOf(pids);
        const { settled, settleS, cpuS: cpuMerge, mergedPages } = m;
        const st = { sharing: m.pagesSharing, shared: m.pagesShared, scans: m.fullScans };
        const procs = m.mergeableProcesses;
        const row: Row = {
          n, mode, round, forkMs: Math.round(forkMs), cpuMsPerChild: cpuChild, anonHugeMiB: r1(thp / 1024),
          pssOff: r1(median(off)), pssOn: r1(median(on)), pssOffAfter: r1(median(offAfter)), meanOff: r1(mean(off)), meanOn: r1(mean(on)),
          mergedMiBPerChild: r1((mergedPages * PAGE_KIB) / 1024 / pids.length), settleS: r1(settleS), settled,
          ksmdCpuMergeS: r2(cpuMerge), ksmdCpuMsPerChild: Math.round((1000 * cpuMerge) / pids.length), steadyPctCore: r2(steadyPct),
          pagesSharing: st.sharing, pagesShared: st.shared, fullScans: st.scans, mergeableProcs: procs, load: r1(os.loadavg()[0]),
        };
        rows.push(row);
        console.log(
          `N=${n} ${mode} round ${round}: PSS/child median off ${row.pssOff} → on ${row.pssOn} MiB (×${r2(row.pssOn / row.pssOff)}; mean ${row.meanOff} → ${row.meanOn}; after unmerge ${row.pssOffAfter}); THP ${row.anonHugeMiB} MiB; fork CPU/child ${row.cpuMsPerChild} ms; ` +
            `merged ${row.mergedMiBPerChild} MiB/child; settled ${settled ? 'yes' : 'NO'} in ${row.settleS} s (${st.scans} full scans); ksmd CPU ${row.ksmdCpuMergeS} s merging = ${row.ksmdCpuMsPerChild} ms/child, ` +
            `steady ${row.steadyPctCore} % of a core; pages_sharing ${st.sharing} pages_shared ${st.shared}; ${procs} mergeable processes on the host; load ${row.load}`,
        );
        for (const c of f.children) await engine.remove(c.id, { force: true });
      }
    }
  }
  console.log('\nsummary (same run):');
  for (const n of COUNTS)
    for (const mode of MODES) {
      const x = rows.filter((r) => r.n === n && r.mode === mode);
      console.log(`N=${n} ${mode.padEnd(7)} fork CPU/child ${median(x.map((r) => r.cpuMsPerChild))} ms (rounds: ${x.map((r) => r.cpuMsPerChild).join(', ')}); PSS/child off ${r1(median(x.map((r) => r.pssOff)))} → on ${r1(median(x.map((r) => r.pssOn)))} MiB; ksmd ${median(x.map((r) => r.ksmdCpuMsPerChild))} ms CPU per child merged, steady ${r2(median(x.map((r) => r.steadyPctCore)))} % of a core`);
    }
  console.log('JSON', JSON.stringify({ settings: ksm.settings, rows }));
} finally {
  try {
    ksm.restore();
  } catch (e) {
    console.error((e as Error).message); // still stop every QEMU and remove the dirs below
  }
  process.env.INSTACLONE_QEMU = realQemu;
  await done();
  fs.rmSync(wrapDir, { recursive: true, force: true });
}
process.exit(0);
