// The Host table (in "public"): agents register and heartbeat; anyone sweeps hosts that went quiet
// into "lost" (with their VMs). All times are the database's timezone('UTC', now()), so host clocks never matter.
import { config } from '../config';
import { EngineError } from '../engine/errors';
import { clusterPg, schemaIdent } from './pg';
import type { HostFacts } from './facts';
import type { HostMemoryUse } from './host-memory';

export interface HostRow extends HostFacts {
  name: string;
  state: 'ready' | 'draining' | 'lost';
  url: string;
  schemaName: string;
  startedAt: Date;
  lastSeen: Date;
  lostAt: Date | null;
  lostReason: string | null;
  /** from the heartbeat (host-memory.ts); null until the first one */
  memoryUsedBytes: number | null;
  qemuPssBytes: number | null;
}

/** Seconds between heartbeats, and without one before a host is lost (bounded: both have caps). */
export const heartbeatSeconds = () => config().cluster.heartbeatS;
export const lostAfterSeconds = () => config().cluster.lostAfterS;

const COLS = `name, state, url, "schemaName", cores, "memoryBytes", "qemuVersion", "cpuModel", accel, "startedAt", "lastSeen", "lostAt", "lostReason", "memoryUsedBytes", "qemuPssBytes"`;

function row(r: Record<string, unknown>): HostRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { ...(r as unknown as HostRow), memoryBytes: Number(r.memoryBytes), memoryUsedBytes: num(r.memoryUsedBytes), qemuPssBytes: num(r.qemuPssBytes) };
}

/**
 * Registers (or re-registers after a restart) this agent. Refused while another agent that still
 * heartbeats holds the name at another address: two agents must never own one schema.
 */
export async function registerHost(name: string, schemaName: string, url: string, facts: HostFacts): Promise<HostRow> {
  const pg = clusterPg();
  const lost = lostAfterSeconds();
  const r = await pg.query(
    `INSERT INTO public."Host" (name, state, url, "schemaName", cores, "memoryBytes", "qemuVersion", "cpuModel", accel, "startedAt", "lastSeen")
     VALUES ($1, 'ready', $2, $3, $4, $5, $6, $7, $8, timezone('UTC', now()), timezone('UTC', now()))
     ON CONFLICT (name) DO UPDATE SET
       state = CASE WHEN "Host".state = 'draining' THEN 'draining' ELSE 'ready' END,
       url = EXCLUDED.url, cores = EXCLUDED.cores, "memoryBytes" = EXCLUDED."memoryBytes",
       "qemuVersion" = EXCLUDED."qemuVersion", "cpuModel" = EXCLUDED."cpuModel", accel = EXCLUDED.accel,
       "startedAt" = timezone('UTC', now()), "lastSeen" = timezone('UTC', now()), "lostAt" = NULL, "lostReason" = NULL
     WHERE "Host".url = EXCLUDED.url OR "Host".state = 'lost' OR "Host"."lastSeen" < timezone('UTC', now()) - make_interval(secs => $9)
     RETURNING ${COLS}`,
    [name, url, schemaName, facts.cores, facts.memoryBytes, facts.qemuVersion, facts.cpuModel, facts.accel, lost],
  );
  if (!r.rowCount) {
    throw new Error(`Another agent already runs as host "${name}" and still sends heartbeats: stop it, or give this one another INSTACLONE_HOST_NAME.`);
  }
  return row(r.rows[0]);
}

/** One heartbeat, with the host's memory in use. Returns the state the host had: "lost" means it comes back and must reconcile. */
export async function heartbeat(name: string, use?: HostMemoryUse): Promise<'ready' | 'draining' | 'lost' | 'missing'> {
  const r = await clusterPg().query(
    `WITH old AS (SELECT state FROM public."Host" WHERE name = $1 FOR UPDATE)
     UPDATE public."Host" SET "lastSeen" = timezone('UTC', now()),
       state = CASE WHEN "Host".state = 'lost' THEN 'ready' ELSE "Host".state END, "lostAt" = NULL, "lostReason" = NULL,
       "memoryUsedBytes" = COALESCE($2, "memoryUsedBytes"), "qemuPssBytes" = COALESCE($3, "qemuPssBytes")
     WHERE name = $1 RETURNING (SELECT state FROM old) AS was`,
    [name, use?.memoryUsedBytes ?? null, use?.qemuPssBytes ?? null],
  );
  return r.rowCount ? r.rows[0].was : 'missing';
}

/**
 * Marks hosts without a heartbeat for `lostAfterSeconds()` as lost, and their running VMs as lost
 * with when and why. Idempotent: consoles and agents all run it.
 */
export async function sweepLost(): Promise<string[]> {
  const secs = lostAfterSeconds();
  const why = `no heartbeat for more than ${secs} s`;
  // one transaction: whoever sees a host lost also sees its VMs lost
  const pg = await clusterPg().connect();
  try {
    await pg.query('BEGIN');
    const names = await sweepIn(pg, secs, why);
    await pg.query('COMMIT');
    return names;
  } catch (e) {
    await pg.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    pg.release();
  }
}

async function sweepIn(pg: import('pg').PoolClient, secs: number, why: string): Promise<string[]> {
  const r = await pg.query(
    `UPDATE public."Host" SET state = 'lost', "lostAt" = timezone('UTC', now()), "lostReason" = $2
     WHERE state <> 'lost' AND "lastSeen" < timezone('UTC', now()) - make_interval(secs => $1) RETURNING name, "schemaName"`,
    [secs, why],
  );
  for (const h of r.rows) {
    const s = schemaIdent(h.schemaName);
    const has = await pg.query(`SELECT to_regclass($1) AS t`, [`${s}."Vm"`]); // an agent that never migrated its schema has no VMs
    if (!has.rows[0].t) continue;
    await pg.query(
      `UPDATE ${s}."Vm" SET state = 'lost', "lostAt" = timezone('UTC', now()), "lostReason" = $1 WHERE state IN ('starting', 'running')`,
      [`Host "${h.name}" stopped answering (${why}); the VM may still run there and is reconciled when the host comes back.`],
    );
  }
  return r.rows.map((h) => h.name as string);
}

export async function hostRows(): Promise<HostRow[]> {
  const r = await clusterPg().query(`SELECT ${COLS} FROM public."Host" ORDER BY name`);
  return r.rows.map(row);
}

export async function hostRow(name: string): Promise<HostRow> {
  const r = await clusterPg().query(`SELECT ${COLS} FROM public."Host" WHERE name = $1`, [name]);
  if (!r.rowCount) throw new EngineError('not_found', `No host named "${name}"; list them with \`instaclone hosts\`.`);
  return row(r.rows[0]);
}

/** Draining stops new placements on a host; its VMs keep running. `ready` undoes it. */
export async function setDrain(name: string, drain: boolean): Promise<HostRow> {
  const r = await clusterPg().query(
    `UPDATE public."Host" SET state = $2 WHERE name = $1 AND state <> 'lost' RETURNING ${COLS}`,
    [name, drain ? 'draining' : 'ready'],
  );
  if (r.rowCount) return row(r.rows[0]);
  const h = await hostRow(name); // not found → its own sentence
  throw new EngineError('conflict', `Host "${h.name}" is lost (${h.lostReason}); it can be drained once its agent answers again.`);
}

/** Frozen templates and live VM counts per host, read from each agent's schema. */
export async function hostContents(h: Pick<HostRow, 'schemaName'>): Promise<{ templates: { id: string; name: string }[]; vms: number }> {
  const s = schemaIdent(h.schemaName);
  const pg = clusterPg();
  try {
    const t = await pg.query(`SELECT id, name FROM ${s}."Template" WHERE state = 'frozen' ORDER BY "createdAt"`);
    const v = await pg.query(`SELECT count(*)::int AS n FROM ${s}."Vm" WHERE state IN ('starting', 'running', 'lost')`);
    return { templates: t.rows, vms: v.rows[0].n };
  } catch {
    return { templates: [], vms: 0 }; // schema not migrated yet
  }
}
