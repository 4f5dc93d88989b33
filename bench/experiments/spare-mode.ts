// Experiment: should pool spares wait running or paused? Forks K spares through a real pool, then
// measures, with them RUNNING: idle CPU per spare and PSS, and the claim (a DB update); then PAUSES
// them (QMP stop) and measures idle CPU and PSS again, and what a claim of a paused spare would have
// to add: QMP `cont` + a guest clock fix (guest-set-time through the agent).
//   INSTACLONE_ACCEL=tcg npx tsx bench/experiments/spare-mode.ts [spares=2] [idleSeconds=10]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuPercentOver, smapsRollup } from '../lib/proc';
import { round, summarize } from '../lib/stats';
import { prepareSchema } from '../../lib/validations';
import { poolCreateSchema } from '../../lib/validations/pools';

const K = Number(process.argv[2] ?? 2);
const IDLE_S = Number(process.argv[3] ?? 10);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'icbench-spare-home-'));
const run = fs.mkdtempSync('/dev/shm/icbench-spare-run-');
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = run;
process.env.DATABASE_URL = `file:${path.join(home, 'instaclone.db')}`;
process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache/instaclone/images');

const { migrate } = await import('../../lib/db');
const { db } = await import('../../lib/db');
const { Engine } = await import('../../lib/engine');
const { connectAgent } = await import('../../lib/engine/vmm');
const E = Engine.get();
const med = (xs: number[]) => round(summarize(xs).median, 2);
try {
  await migrate();
  await E.start();
  await E.prepare(prepareSchema.parse({ name: 'spare', memory: 256 }));
  const P = await E.pools();
  await P.create(poolCreateSchema.parse({ name: 'sp', template: 'spare', size: K + 1, spares: K }));
  await P.waitReady('sp', K, 300_000);
  const members = (await P.get('sp')).members;
  const vms = await db().vm.findMany({ where: { id: { in: members.map((m) => m.vmId) } } });
  const pids = vms.map((v) => v.pid!) ;
  P.stop(); // no refills while measuring
  await new Promise((r) => setTimeout(r, 3000));
  const cpuRun = [...(await cpuPercentOver(pids, IDLE_S * 1000)).values()];
  const pssRun = pids.map((p) => smapsRollup(p)!.pss / 1024);
  // the private core handles: this is an experiment, not product code
  const core = (E as unknown as { core: { vmms: Map<string, { qmp: { execute: (c: string, a?: unknown) => Promise<unknown> } }> } }).core;
  for (const v of vms) await core.vmms.get(v.id)!.qmp.execute('stop');
  await new Promise((r) => setTimeout(r, 1000));
  const cpuPaused = [...(await cpuPercentOver(pids, IDLE_S * 1000)).values()];
  const pssPaused = pids.map((p) => smapsRollup(p)!.pss / 1024);
  const wake: number[] = [];
  for (const v of vms) {
    const h = core.vmms.get(v.id)! as never;
    const t0 = performance.now();
    await (core.vmms.get(v.id)!.qmp.execute('cont'));
    const agent = await connectAgent(h, 10_000);
    await agent.call('guest-set-time', { time: Date.now() * 1_000_000 }, 10_000);
    wake.push(performance.now() - t0);
  }
  // a running spare's claim: the pool's own DB path (restart the keeper so the claim refills as usual)
  const claims: number[] = [];
  for (let i = 0; i < K; i++) claims.push((await P.claim('sp', {})).claimMs);
  const out = {
    spares: K,
    idleSeconds: IDLE_S,
    running: { cpuPctPerSpare: med(cpuRun), pssMiBPerSpare: med(pssRun), claimMs: med(claims) },
    paused: { cpuPctPerSpare: med(cpuPaused), pssMiBPerSpare: med(pssPaused), extraClaimMs: med(wake), extraClaimMsSamples: wake.map((x) => round(x, 1)) },
    loadavg: os.loadavg().map((x) => round(x, 2)),
  };
  console.log(JSON.stringify(out, null, 1));
} finally {
  await E.shutdown({ killAll: true });
  fs.rmSync(run, { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
}
