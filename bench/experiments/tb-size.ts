// TCG translation cache size vs child memory and fork time: `npx tsx bench/experiments/tb-size.ts 32 16 8`.
// For each size: prepare a tiny template with 8 prelaunched slots, fork 8, let them idle 5 s, read PSS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { forkSchema, prepareSchema } from '../../lib/validations';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-tb-'));
process.env.INSTACLONE_HOME = path.join(base, 'home');
process.env.INSTACLONE_RUN = fs.mkdtempSync('/dev/shm/ic-tb-');
process.env.DATABASE_URL = `file:${path.join(base, 'home', 'db.sqlite')}`;
const { migrate } = await import('../../lib/db');
const { Engine } = await import('../../lib/engine');
const { procMemory } = await import('../../lib/engine/metrics');
await migrate();
const engine = Engine.get();
await engine.start();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
try {
  for (const tb of sizes.length ? sizes : [32, 16, 8]) {
    process.env.INSTACLONE_TB_SIZE = String(tb);
    const name = `tb${tb}`;
    await engine.prepare(prepareSchema.parse({ image: 'tiny', name, slots: 8, prelaunch: true }));
    const f = await engine.fork(name, forkSchema.parse({ count: 8 }));
    await new Promise((r) => setTimeout(r, 5000));
    const st = await engine.stats();
    const pss = st.vms.filter((v) => v.memory && v.name.startsWith(`${name}-`)).map((v) => v.memory!.pssKiB / 1024);
    console.log(`tb-size ${tb} MiB: fork of 8 ${f.timings.totalMs} ms, per child median ${median(f.timings.perChildMs)} ms, PSS/child median ${median(pss).toFixed(1)} MiB`);
    await engine.remove(name, { force: true });
  }
} finally {
  await engine.shutdown({ killAll: true });
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(process.env.INSTACLONE_RUN!, { recursive: true, force: true });
}
process.exit(0);
