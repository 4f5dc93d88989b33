// Many hosts (issue 16), run as its own process by bench/run.ts (it needs PostgreSQL, the rest of the
// bench runs on SQLite): two agents on this machine, a template prepared on A, then
//  - dispatch overhead: N forks of one child through the console's dispatch (placement queries,
//    HTTP to the agent, idempotency row) = console wall time − the agent engine's own fork time
//    (totalMs, which is what a single-host fork costs), same runs;
//  - replication throughput: the template copied A → B through the job queue (sha256 verified),
//    MiB/s over the whole job (queueing, pick-up, copy, hashing, recording).
// Prints one JSON line on stdout: {"dispatch":{"wallMs":[…],"engineMs":[…],"overheadMs":[…]},"replication":{…}}.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freshDatabase, localAgents, startLocalAgent, stopLocalAgent } from '../lib/agents';
import { qemuPidsUnder } from '../../lib/engine/process';
import { clusterForkSchema, clusterPrepareSchema } from '../../lib/validations/hosts';

const runs = Number(process.argv[2] ?? 5);
const log = (...a: unknown[]) => console.error('   ', ...a);

async function main() {
  const url = freshDatabase();
  if (!url) throw new Error('the hosts scenario needs PostgreSQL (scripts/test-postgres.sh: root and Debian postgresql); --skip hosts');
  const secret = randomBytes(32).toString('hex');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-bench-hosts-'));
  fs.chmodSync(base, 0o711);
  const agents = localAgents(['bench-a', 'bench-b'], base, { url, secret, portBase: Number(process.env.INSTACLONE_BENCH_AGENT_PORT ?? 3340) }); // two ports from there (several benches on one machine: give each its own)
  Object.assign(process.env, { DATABASE_URL: url, INSTACLONE_AGENT_SECRET: secret, INSTACLONE_HOME: path.join(base, 'console'), INSTACLONE_RUN: `/dev/shm/${path.basename(base)}-console` });
  const C = await import('../../lib/cluster/dispatch');
  const H = await import('../../lib/cluster/hosts');
  try {
    agents.forEach(startLocalAgent);
    for (const end = Date.now() + 300_000; (await H.hostRows().catch(() => [])).filter((h) => h.state === 'ready').length < 2; ) {
      if (Date.now() > end) throw new Error(`agents did not register: ${agents.map((a) => a.log.join('')).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const tpl = (await C.routePrepare(clusterPrepareSchema.parse({ host: 'bench-a', image: 'tiny', name: 'bench-hosts', memory: 256 }), 'bench'))!;
    const wallMs: number[] = [];
    const engineMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await C.routeFork(tpl.id, clusterForkSchema.parse({ count: 1, host: 'bench-a' }), 'bench');
      wallMs.push(performance.now() - t0);
      engineMs.push(r!.timings.totalMs);
      await C.routeVmAction(r!.children[0].id, 'remove', 'bench', true);
    }
    const overheadMs = wallMs.map((w, i) => w - engineMs[i]);
    log(`dispatch: wall ${wallMs.map((x) => x.toFixed(0)).join(', ')} ms; engine ${engineMs.map((x) => x.toFixed(0)).join(', ')} ms`);
    const { ensureReplica } = await import('../../lib/cluster/replicate');
    const home = await C.locateTemplate(tpl.id);
    const to = await H.hostRow('bench-b');
    const t0 = performance.now();
    await ensureReplica(home, to);
    const copyMs = performance.now() - t0;
    const { pg } = { pg: (await import('../../lib/cluster/pg')).clusterPg() };
    const t = (await pg.query(`SELECT "ramPath", "statePath", "diskPath" FROM host_bench_b."Template" WHERE id = $1`, [tpl.id])).rows[0];
    const bytes = [t.ramPath, t.statePath, t.diskPath].reduce((s: number, f: string) => s + fs.statSync(f).size, 0);
    log(`replication: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${copyMs.toFixed(0)} ms`);
    console.log(JSON.stringify({ dispatch: { wallMs, engineMs, overheadMs }, replication: { bytes, ms: copyMs, mibPerS: bytes / 2 ** 20 / (copyMs / 1000) } }));
  } finally {
    for (const a of agents) await stopLocalAgent(a, qemuPidsUnder);
    fs.rmSync(`/dev/shm/${path.basename(base)}-console`, { recursive: true, force: true });
    fs.rmSync(base, { recursive: true, force: true });
    await (await import('../../lib/cluster/jobs')).closeJobUtils();
    await (await import('../../lib/cluster/pg')).closeClusterPg();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`hosts scenario: ${(e as Error).message}`);
    process.exit(1);
  },
);
