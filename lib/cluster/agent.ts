// `npm run agent`: the engine without the console on one host of many. It keeps its VM state in its
// own schema (host_NAME) of the shared PostgreSQL, registers the host, heartbeats, sweeps hosts that
// went quiet, and serves the internal API (agent-server.ts) to consoles.
import { config } from '../config';
import { db, migrate } from '../db';
import { Engine } from '../engine';
import { ensureImage } from '../guest/images';
import { preflight } from '../preflight';
import { agentSecretSchema } from '../validations/hosts';
import { agentRoutes, agentServer } from './agent-server';
import { hostFacts } from './facts';
import { interruptStaleForkRequests, pruneForkRequests } from './fork-request';
import { memorySampler } from './host-memory';
import { heartbeat, heartbeatSeconds, registerHost, sweepLost } from './hosts';
import { closeJobUtils, runHostJobs } from './jobs';
import { clusterPg, closeClusterPg } from './pg';
import { applyShare, poolRoutes } from './pool-agent';
import { replicateHere, serveTemplateFile } from './replicate';
import { claimUidBlock } from './uid-block';

export interface RunningAgent {
  url: string;
  stop(): Promise<void>;
}

/** Lost VMs go back to "running" so the engine's reconcile decides: adopted if QEMU still runs, else crashed. */
async function reclaimLostVms(): Promise<number> {
  return (await db().vm.updateMany({ where: { state: 'lost' }, data: { state: 'running', lostAt: null, lostReason: null } })).count;
}

/** Fork request ids are pruned at most this often (the window itself is hours). */
const PRUNE_EVERY_MS = 60_000;

export async function startAgent(env: NodeJS.ProcessEnv = process.env): Promise<RunningAgent> {
  env.INSTACLONE_AGENT = '1';
  const cfg = config(env);
  if (cfg.databaseKind !== 'postgresql' || !cfg.dbSchema) {
    throw new Error('An agent joins many hosts through PostgreSQL: set DATABASE_URL=postgresql://… to the consoles\' database (with SQLite there is one host and no agent).');
  }
  const s = agentSecretSchema.safeParse(cfg.cluster.agentSecret);
  if (!s.success) throw new Error(s.error.issues[0].message);
  const secret = s.data;
  await migrate({ ...env, INSTACLONE_AGENT: '0' }); // the shared tables (Host) in the default schema
  await preflight(env); // this host's own schema, folders, QEMU
  const uidBlock = await claimUidBlock(); // before any QEMU starts: no other agent here uses these uids
  await ensureImage('tiny', cfg.home);
  await interruptStaleForkRequests();
  await reclaimLostVms();
  const engine = Engine.get();
  await engine.start();

  const facts = hostFacts();
  const bind = env.HOST || '127.0.0.1';
  const url = cfg.cluster.agentUrl || `http://${bind}:${cfg.port}`;
  const info = async () => ({
    name: cfg.hostName,
    ...facts,
    templates: await db().template.findMany({ where: { state: 'frozen' }, select: { id: true, name: true, memoryMiB: true, quiesced: true } }),
    vms: await db().vm.count({ where: { state: { in: ['starting', 'running'] } } }),
  });
  const server = agentServer(secret, [...agentRoutes(engine, info), ...poolRoutes(engine)], serveTemplateFile);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `Port ${cfg.port} on ${bind} is taken: give the agent another PORT.` : `The agent cannot listen on ${bind}:${cfg.port}: ${e.message}`)),
    );
    server.listen(cfg.port, bind, () => resolve());
  });
  await registerHost(cfg.hostName, cfg.dbSchema, url, facts);
  // durable work routed to this host (replicas); a job cut off by a crash is retried after restart
  const jobs = await runHostJobs(cfg.hostName, {
    replicate: async (payload) => {
      await replicateHere(payload as { templateId: string; from: string }, cfg.hostName);
    },
    'pool-share': async (payload) => {
      await applyShare(engine, payload); // this host's share of a pool spread over hosts (lib/cluster/pools.ts)
    },
  });

  const memory = memorySampler(() => engine.qemuPids(), cfg.cluster.pssEveryS * 1000); // what the Hosts page shows as in use
  let beating = false;
  let prunedAt = 0;
  const beat = setInterval(async () => {
    if (beating) return;
    beating = true;
    try {
      const was = await heartbeat(cfg.hostName, memory());
      if (was === 'missing') await registerHost(cfg.hostName, cfg.dbSchema!, url, facts);
      if (was === 'lost') await reclaimLostVms(); // back after a partition: the engine's poller checks them
      await sweepLost();
      if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
        prunedAt = Date.now();
        await pruneForkRequests(); // old idempotency rows: the table stays bounded
      }
    } catch (e) {
      console.error(`instaclone agent: heartbeat failed: ${(e as Error).message}`);
    } finally {
      beating = false;
    }
  }, heartbeatSeconds() * 1000);

  return {
    url,
    async stop() {
      clearInterval(beat);
      await jobs.stop().catch(() => undefined);
      await closeJobUtils();
      await new Promise((r) => server.close(r));
      // placement skips it at once; its VMs keep running and are adopted when the agent starts again
      await clusterPg()
        .query(`UPDATE public."Host" SET state = 'lost', "lostAt" = timezone('UTC', now()), "lostReason" = 'its agent was stopped' WHERE name = $1`, [cfg.hostName])
        .catch(() => undefined);
      await engine.shutdown();
      uidBlock?.release();
      await closeClusterPg();
    },
  };
}
