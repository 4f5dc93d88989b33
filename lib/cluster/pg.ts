// The shared PostgreSQL of many hosts: one pg pool per process (on globalThis, like the Prisma
// client) for the cluster tables in "public" (Host) and for reading agents' schemas.
import pg from 'pg';
import { config } from '../config';

const holder = globalThis as unknown as { __instacloneClusterPg?: { url: string; pool: pg.Pool; locks?: pg.Pool } };

/** Many hosts need PostgreSQL: with SQLite there is one host, this process. */
export const clusterCapable = () => config().databaseKind === 'postgresql';

const TIMESTAMP = 1114; // Prisma's DateTime columns: "timestamp without time zone", written in UTC
/** Reads Prisma's timestamps as UTC whatever this process's time zone (pg would take them as local time). */
function utcTimestamps(oid: number, format?: string): (v: string) => unknown {
  if (oid === TIMESTAMP) return (v: string) => new Date(`${v.replace(' ', 'T')}Z`);
  return (pg.types.getTypeParser as (o: number, f?: string) => (v: string) => unknown)(oid, format);
}

export function clusterPg(): pg.Pool {
  const url = config().databaseUrl;
  if (holder.__instacloneClusterPg?.url === url) return holder.__instacloneClusterPg.pool;
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000, types: { getTypeParser: utcTimestamps } as pg.CustomTypesConfig });
  pool.on('error', () => undefined); // a dropped idle connection is replaced on the next query
  holder.__instacloneClusterPg = { url, pool };
  return pool;
}

/**
 * Connections that hold a session advisory lock while their holder queries through clusterPg():
 * a pool of their own, so lock holders can never take all of clusterPg's connections and wait on
 * themselves.
 */
export function clusterLockPg(): pg.Pool {
  const h = holder.__instacloneClusterPg ?? (clusterPg(), holder.__instacloneClusterPg!);
  if (!h.locks) {
    h.locks = new pg.Pool({ connectionString: h.url, max: 8, connectionTimeoutMillis: 5_000 });
    h.locks.on('error', () => undefined);
  }
  return h.locks;
}

export async function closeClusterPg(): Promise<void> {
  const h = holder.__instacloneClusterPg;
  holder.__instacloneClusterPg = undefined;
  await Promise.all([h?.pool.end(), h?.locks?.end()]);
}

/** An agent's schema name, checked before it is quoted into SQL (config.hostSchema makes only these). */
export function schemaIdent(schema: string): string {
  if (!/^host_[a-z0-9_]{1,40}$/.test(schema)) throw new Error(`Refusing the unexpected schema name "${schema}".`);
  return `"${schema}"`;
}
