// The durable job queue of many hosts: graphile-worker on the shared PostgreSQL. Routing per host:
// a job's task is "KIND@HOST" and each agent's runner knows only its own tasks, so only that host
// runs it; its queue "host:HOST" runs them one at a time; a job key makes adding it idempotent.
import { makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker';
import { config } from '../config';

const holder = globalThis as unknown as { __instacloneJobs?: Promise<WorkerUtils> };

export const taskFor = (kind: string, host: string) => `${kind}@${host}`;

export function jobUtils(): Promise<WorkerUtils> {
  holder.__instacloneJobs ??= (async () => {
    const u = await makeWorkerUtils({ connectionString: config().databaseUrl });
    await u.migrate();
    return u;
  })();
  holder.__instacloneJobs.catch(() => (holder.__instacloneJobs = undefined));
  return holder.__instacloneJobs;
}

export async function closeJobUtils(): Promise<void> {
  const u = holder.__instacloneJobs;
  holder.__instacloneJobs = undefined;
  await (await u?.catch(() => null))?.release();
}

/** Queues job KIND for `host` once per `key` (an existing job with that key is kept, not doubled). */
export async function addHostJob(kind: string, host: string, payload: Record<string, unknown>, key: string, maxAttempts = 3): Promise<string> {
  const u = await jobUtils();
  const job = await u.addJob(taskFor(kind, host), payload, { queueName: `host:${host}`, jobKey: key, jobKeyMode: 'preserve_run_at', maxAttempts });
  return job.id;
}

/** A job's failure so far (null while it may still succeed, or once it is done and removed). */
export async function jobFailure(id: string): Promise<{ attempts: number; maxAttempts: number; lastError: string | null } | null> {
  const u = await jobUtils();
  const r = await u.withPgClient((c) => c.query('SELECT attempts, max_attempts, last_error FROM graphile_worker.jobs WHERE id = $1', [id]));
  const j = r.rows[0];
  return j ? { attempts: j.attempts, maxAttempts: j.max_attempts, lastError: j.last_error } : null;
}

/** This host's job runner: only tasks named KIND@thisHost. */
export async function runHostJobs(host: string, tasks: Record<string, Task>): Promise<Runner> {
  const taskList = Object.fromEntries(Object.entries(tasks).map(([k, t]) => [taskFor(k, host), t]));
  // one agent per host name: at start, any lock on this host's jobs is a dead predecessor's
  // (graphile-worker would otherwise wait 4 h before retrying them)
  const u = await jobUtils();
  const stale = await u.withPgClient((c) =>
    c.query('SELECT DISTINCT locked_by FROM graphile_worker.jobs WHERE task_identifier = ANY($1) AND locked_by IS NOT NULL', [Object.keys(taskList)]),
  );
  if (stale.rowCount) await u.forceUnlockWorkers(stale.rows.map((r) => r.locked_by));
  return run({ connectionString: config().databaseUrl, concurrency: 1, taskList, noHandleSignals: true, pollInterval: 1000 });
}
