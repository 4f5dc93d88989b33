// Experiment: what the claim path itself costs (database only, no QEMU): N spare rows of a pool whose
// VMs are rows marked running, claimed one at a time through the engine and through the REST route
// handler with token auth. Reports wall time and this process's CPU time per claim, so the figure can
// be read on a loaded machine (CPU time does not grow with other processes' load).
//   npx tsx bench/experiments/claim-path.ts [claims=200]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { round, summarize } from '../lib/stats';

const N = Number(process.argv[2] ?? 200);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'icbench-claim-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = fs.mkdtempSync('/dev/shm/icbench-claim-run-');
process.env.DATABASE_URL = `file:${path.join(home, 'instaclone.db')}`;
const { migrate, db } = await import('../../lib/db');
const { Engine } = await import('../../lib/engine');
const { createToken } = await import('../../lib/auth/tokens');
const route = await import('../../app/api/v1/pools/[name]/claim/route');
await migrate();
const E = Engine.get();
await E.start();
const P = await E.pools();
P.stop(); // rows only: no keeper (it would drop members whose VM has no QEMU)
await db().template.create({ data: { id: 't', name: 't', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/r', statePath: '/s', diskPath: '/d' } });
await db().pool.create({ data: { id: 'p', name: 'p', templateId: 't', size: 2 * N, spares: 2 * N, onRelease: 'reset', state: 'active' } });
for (let i = 0; i < 2 * N; i++) {
  await db().vm.create({ data: { id: `v${i}`, name: `p-${i}`, kind: 'child', state: 'running', templateId: 't', image: 'tiny', memoryMiB: 256, runDir: '/x', hostname: `p-${i}`, ip: `10.0.2.${i % 250}`, mac: 'x', machineId: 'm', vmgenid: 'g' } });
  await db().poolMember.create({ data: { vmId: `v${i}`, poolId: 'p', templateId: 't', state: 'spare' } });
}
const tok = (await createToken('bench', 'operator')).secret;
const measure = async (fn: () => Promise<unknown>) => {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < N; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    await new Promise((r) => setImmediate(r)); // let the claim's event write land outside the next sample
  }
  const w = summarize(wall);
  const c = summarize(cpu);
  return { wallP50: round(w.median, 2), wallP95: round(w.p95, 2), cpuP50: round(c.median, 2), cpuP95: round(c.p95, 2) };
};
const engine = await measure(() => P.claim('p', {}, { actor: 'x' }));
const rest = await measure(async () => {
  const r = await route.POST(new Request('http://localhost/api/v1/pools/p/claim', { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: '{}' }), { params: Promise.resolve({ name: 'p' }) });
  if (r.status !== 200) throw new Error(await r.text());
});
console.log(JSON.stringify({ claims: N, engine, restHandler: rest, loadavg: os.loadavg().map((x) => round(x, 1)) }, null, 1));
await E.shutdown();
fs.rmSync(home, { recursive: true, force: true });
fs.rmSync(process.env.INSTACLONE_RUN!, { recursive: true, force: true });
process.exit(0);
