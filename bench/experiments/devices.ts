// The device-profile lever (issue 17) side by side in ONE run: 'standard' (QEMU's pc machine as is)
// vs 'lean' (lib/engine/argv.ts deviceProfileArgs: no HPET, VMware port, PS/2, kvmvapic), tiny image,
// alternated round by round: `npx tsx bench/experiments/devices.ts [rounds=2]`.
// Per round and profile: cold boot (prepare's boot to agent ready), fork of one (wall and CPU per
// child, fresh VMM: no slots), a second child, both idle 5 s (PSS, private memory and idle CPU each), reset
// of both (fresh VMM: INSTACLONE_RESET_SPARE=0, so the profile's QEMU start and checkpoint load count).
// At most 2 guests run at once. Prints medians per profile and lean ÷ standard ratios.
import os from 'node:os';

const ROUNDS = Number(process.argv[2] ?? 2);
const SLOTS = process.env.DEVICES_SLOTS === '1';
process.env.INSTACLONE_RESET_SPARE = '0';
process.env.INSTACLONE_SLOT_TOPUP = '0';
const { experimentEngine } = await import('../lib/experiment');
const { forkSchema, prepareSchema } = await import('../../lib/validations');
const { smapsRollup, cpuPercentOver } = await import('../lib/proc');
const { median } = await import('../lib/stats');
type ForkResult = import('../../lib/engine').ForkResult;
const { engine, done } = await experimentEngine('ic-dev');
const r1 = (x: number | null) => (x === null ? NaN : Math.round(x * 10) / 10);

const profiles = ['standard', 'lean'] as const;
type Figures = { bootMs: number[]; freezeMs: number[]; forkMs: number[]; cpuMs: number[]; pssMiB: number[]; privateMiB: number[]; idleCpuPct: number[]; resetMs: number[] };
const res = Object.fromEntries(profiles.map((p) => [p, { bootMs: [], freezeMs: [], forkMs: [], cpuMs: [], pssMiB: [], privateMiB: [], idleCpuPct: [], resetMs: [] }])) as unknown as Record<(typeof profiles)[number], Figures>;
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...profiles].reverse() : profiles;
    for (const p of order) {
      process.env.INSTACLONE_DEVICES = p;
      const x = res[p];
      // DEVICES_SLOTS=1: both forks take prelaunched slots (launched at prepare, waiting 10 s) instead of fresh VMMs
      const t = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: `${p}-${round}`, memory: 256, ...(SLOTS ? { slots: 2, prelaunch: true } : {}) }));
      if (SLOTS) await new Promise((r) => setTimeout(r, 10_000));
      x.bootMs.push(t.timings.bootMs);
      x.freezeMs.push(t.timings.freezeMs);
      const kids: { id: string; name: string }[] = [];
      for (let i = 0; i < 2; i++) {
        const f = (await engine.fork(t.id, forkSchema.parse({ count: 1, prefix: `${p}-${round}-${i}` }))) as ForkResult;
        x.forkMs.push(f.timings.totalMs);
        for (const d of f.details ?? []) if (d.cpuMs != null) x.cpuMs.push(d.cpuMs);
        kids.push(f.children[0]);
      }
      await new Promise((r) => setTimeout(r, 5000));
      const pids = (await engine.list()).vms.filter((v) => kids.some((k) => k.id === v.id)).map((v) => v.pid!);
      for (const pid of pids) {
        const m = smapsRollup(pid)!;
        x.pssMiB.push(m.pss / 1024);
        // private memory does not depend on how many other QEMUs share the binary's pages
        x.privateMiB.push((m.privateClean + m.privateDirty) / 1024);
      }
      for (const pct of (await cpuPercentOver(pids, 5000)).values()) x.idleCpuPct.push(pct);
      for (const k of kids) x.resetMs.push(((await engine.reset(k.name)) as { timings: { totalMs: number } }).timings.totalMs);
      console.log(`${p} round ${round}: boot ${t.timings.bootMs} ms, fork of one ${x.forkMs.slice(-2).join('/')} ms (CPU ${x.cpuMs.slice(-2).join('/')} ms), PSS ${x.pssMiB.slice(-2).map(r1).join('/')} MiB, idle CPU ${x.idleCpuPct.slice(-2).map(r1).join('/')} %, private ${x.privateMiB.slice(-2).map(r1).join('/')} MiB, reset ${x.resetMs.slice(-2).join('/')} ms`);
      await engine.remove(t.id, { force: true });
    }
  }
  console.log(`\nmedians over ${ROUNDS} rounds (same run, load ${os.loadavg()[0].toFixed(1)}), lean ÷ standard:`);
  for (const k of Object.keys(res.standard) as (keyof Figures)[]) {
    const s = median(res.standard[k]);
    const l = median(res.lean[k]);
    console.log(`${k.padEnd(11)} standard ${r1(s)}  lean ${r1(l)}  ×${s ? (l! / s).toFixed(2) : '?'}`);
  }
  console.log('JSON', JSON.stringify(res));
} finally {
  await done();
}
process.exit(0);
