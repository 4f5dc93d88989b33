// Per-child levers side by side in ONE run (issue 17): TCG translation buffer size and glibc malloc
// arenas, alternated round by round: `npx tsx bench/experiments/levers.ts [children=6] [rounds=2]`.
// For each variant: fork N children from a tiny template of that tb-size (fresh VMMs, arenas set in
// QEMU's environment at spawn), let them idle 5 s, read PSS (and what makes it up: guest RAM
// mapping, other private memory) and the fork's CPU per child (user+sys, fork → ready).
import fs from 'node:fs';
import { forkSchema, prepareSchema } from '../../lib/validations';

const N = Number(process.argv[2] ?? 6);
const ROUNDS = Number(process.argv[3] ?? 2);
const { experimentEngine } = await import('../lib/experiment');
const { smapsRollup, smapsMapping } = await import('../lib/proc');
const { engine, done } = await experimentEngine('ic-lev');
const median = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] : NaN);
const r1 = (x: number) => Math.round(x * 10) / 10;

const variants = (process.env.LEVERS ?? 'tb32/arena0,tb32/arena2,tb8/arena0,tb8/arena2').split(',').map((v) => {
  const m = /^tb(\d+)\/arena(\d+)$/.exec(v)!;
  return { name: v, tb: Number(m[1]), arenas: Number(m[2]) };
});
const results: Record<string, { pss: number[]; ramPss: number[]; otherPss: number[]; privDirty: number[]; cpu: number[]; perChild: number[] }> = {};
try {
  const tpls = new Map<number, string>();
  for (const tb of new Set(variants.map((v) => v.tb))) {
    process.env.INSTACLONE_TB_SIZE = String(tb);
    const t = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: `tb${tb}`, memory: 256 }));
    tpls.set(tb, t.id);
    console.log(`template tb${tb}: boot ${t.timings.bootMs} ms`);
  }
  const tplRow = async (id: string) => (await engine.get(id)) as { files: { ram: string } };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      process.env.INSTACLONE_QEMU_MALLOC_ARENAS = String(v.arenas);
      const f = (await engine.fork(tpls.get(v.tb)!, forkSchema.parse({ count: N, prefix: `${v.tb}-${v.arenas}-${round}` }))) as import('../../lib/engine').ForkResult;
      await new Promise((r) => setTimeout(r, 5000));
      const ls = await engine.list();
      const ram = (await tplRow(tpls.get(v.tb)!)).files.ram;
      const res = (results[v.name] ??= { pss: [], ramPss: [], otherPss: [], privDirty: [], cpu: [], perChild: [] });
      for (const c of f.children) {
        const pid = ls.vms.find((x) => x.id === c.id)?.pid;
        if (!pid) continue;
        const m = smapsRollup(pid)!;
        const rm = smapsMapping(pid, ram);
        res.pss.push(m.pss / 1024);
        res.privDirty.push(m.privateDirty / 1024);
        res.ramPss.push((rm?.pss ?? 0) / 1024);
        res.otherPss.push((m.pss - (rm?.pss ?? 0)) / 1024);
      }
      if (process.env.LEVERS_SMAPS) {
        // what one idle child's PSS is made of, largest mappings first
        const pid = ls.vms.find((x) => x.id === f.children[0].id)!.pid!;
        const rows: { what: string; pss: number; size: number }[] = [];
        let cur: { what: string; pss: number; size: number } | null = null;
        for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
          const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
          if (m) rows.push((cur = { what: m[3] || '[anon]', pss: 0, size: (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024 }));
          else if (cur && line.startsWith('Pss:')) cur.pss = Number(line.split(/\s+/)[1]);
        }
        rows.sort((a, b) => b.pss - a.pss);
        for (const r of rows.slice(0, 15)) console.log(`  ${String(Math.round(r.pss)).padStart(7)} KiB PSS of ${String(Math.round(r.size)).padStart(8)} KiB  ${r.what}`);
      }
      for (const d of f.details ?? []) if (d.cpuMs != null) res.cpu.push(d.cpuMs);
      res.perChild.push(...f.timings.perChildMs);
      console.log(`${v.name} round ${round}: fork of ${N} ${f.timings.totalMs} ms; PSS/child ${r1(median(res.pss.slice(-N)))} MiB (guest RAM ${r1(median(res.ramPss.slice(-N)))}, rest ${r1(median(res.otherPss.slice(-N)))}); CPU/child ${median((f.details ?? []).map((d) => d.cpuMs ?? NaN))} ms`);
      for (const c of f.children) await engine.remove(c.id, { force: true });
    }
  }
  console.log('\nmedians over all rounds (same run):');
  const b = results[variants[0].name];
  for (const v of variants) {
    const x = results[v.name];
    console.log(`${v.name.padEnd(14)} PSS ${r1(median(x.pss))} MiB (×${(median(x.pss) / median(b.pss)).toFixed(2)}), guest RAM ${r1(median(x.ramPss))}, rest ${r1(median(x.otherPss))} (×${(median(x.otherPss) / median(b.otherPss)).toFixed(2)}), private dirty ${r1(median(x.privDirty))}, CPU/child ${median(x.cpu)} ms (×${(median(x.cpu) / median(b.cpu)).toFixed(2)}), per-child wall ${r1(median(x.perChild))} ms`);
  }
  console.log('JSON', JSON.stringify(results));
} finally {
  await done();
}
process.exit(0);
