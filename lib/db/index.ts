// The one Prisma client, on globalThis: Next.js bundles server code more than once per process.
// SQLite by default; DATABASE_URL=postgresql://… switches to the PostgreSQL twin of the schema.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaClient } from './generated/sqlite/client';
import { PrismaClient as PgPrismaClient } from './generated/postgresql/client';
import { config } from '../config';
import { pgAdapter, sqliteAdapter } from './adapters';

export type Db = PrismaClient;

const holder = globalThis as unknown as { __instacloneDb?: { url: string; client: Db }; __instacloneDbWrites?: { n: number } };
const writes = (holder.__instacloneDbWrites ??= { n: 0 });
// model writes, and every raw query (the pool claim UPDATEs in raw SQL; counting a raw SELECT too only costs a recompute)
const WRITE = /^(create|update|upsert|delete|\$queryRaw|\$executeRaw)/;

/**
 * Counts writes through this process's client (bumped when each write has completed): a reader
 * such as the engine's `ls` keeps its answer while the count is unchanged. Writes by another
 * process are not seen; the engine is the single owner of its database.
 */
export const dbWriteCount = () => writes.n;

function counted<T extends { $extends: (e: any) => unknown }>(client: T): T {
  return client.$extends({
    query: {
      // top level: every model operation and the raw queries
      async $allOperations({ operation, args, query }: { operation: string; args: unknown; query: (a: unknown) => Promise<unknown> }) {
        if (!WRITE.test(operation)) return query(args);
        try {
          return await query(args);
        } finally {
          writes.n++;
        }
      },
    },
  }) as T;
}

export function db(): Db {
  const cfg = config();
  const key = `${cfg.databaseUrl}#${cfg.dbSchema ?? ''}`;
  if (holder.__instacloneDb?.url === key) return holder.__instacloneDb.client;
  // The PostgreSQL client is generated from the same models, so its API is the SQLite client's.
  const client = counted(
    cfg.databaseKind === 'postgresql'
      ? (new PgPrismaClient({
          adapter: pgAdapter(cfg.databaseUrl, cfg.dbSchema),
        }) as unknown as Db)
      : new PrismaClient({ adapter: sqliteAdapter(cfg.databaseUrl) }),
  );
  holder.__instacloneDb = { url: key, client };
  return client;
}

export async function disconnectDb(): Promise<void> {
  const h = holder.__instacloneDb;
  holder.__instacloneDb = undefined;
  await h?.client.$disconnect();
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Applies pending migrations with `prisma migrate deploy` (offline, wasm engine) and turns the
 * usual failures into one sentence that says what to do.
 */
export async function migrate(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const cfg = config(env);
  if (cfg.databaseKind === 'sqlite') {
    const file = cfg.databaseUrl.replace(/^file:/, '');
    const dir = path.dirname(file);
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      throw new Error(
        `The database folder ${dir} is not writable: make INSTACLONE_HOME point at a writable folder (now ${cfg.home}).`,
      );
    }
  }
  if (cfg.databaseKind === 'postgresql') return migratePostgres(cfg.databaseUrl, cfg.dbSchema);
  const { code, output } = await run('bash', [path.join(root, 'scripts/prisma.sh'), 'migrate', 'deploy'], {
    ...env,
    DATABASE_URL: cfg.databaseUrl,
  });
  if (code === 0) return;
  if (/P1001|Can't reach database server|ECONNREFUSED|ENOTFOUND/i.test(output)) {
    throw new Error(
      `Cannot reach the PostgreSQL server in DATABASE_URL (${redact(cfg.databaseUrl)}): start it or fix the URL, or unset DATABASE_URL to use the built-in SQLite database.`,
    );
  }
  if (/P1000|authentication failed/i.test(output)) {
    throw new Error(`PostgreSQL refused the credentials in DATABASE_URL (${redact(cfg.databaseUrl)}): fix the user or password.`);
  }
  if (/readonly|read-only|EACCES|EROFS|unable to open database/i.test(output)) {
    throw new Error(`The database ${redact(cfg.databaseUrl)} cannot be written: make INSTACLONE_HOME (${cfg.home}) writable.`);
  }
  throw new Error(`Database migration failed: ${lastLine(output)}`);
}

/**
 * PostgreSQL: `prisma migrate deploy` through the pg driver adapter fails on this Prisma release
 * (prisma/orm#27403, "Column type 'name' could not be deserialized"), so the same migration files
 * (derived by `prisma migrate diff`) are applied here, each once, in a transaction.
 */
async function migratePostgres(url: string, schema?: string): Promise<void> {
  const { Client } = await import('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (e) {
    const msg = (e as Error).message;
    if (/password authentication|authentication failed|role .* does not exist/i.test(msg)) {
      throw new Error(`PostgreSQL refused the credentials in DATABASE_URL (${redact(url)}): fix the user or password.`);
    }
    if (/database .* does not exist/i.test(msg)) {
      throw new Error(`The database in DATABASE_URL (${redact(url)}) does not exist: create it (createdb) or fix the URL.`);
    }
    throw new Error(
      `Cannot reach the PostgreSQL server in DATABASE_URL (${redact(url)}): start it or fix the URL, or unset DATABASE_URL to use the built-in SQLite database.`,
    );
  }
  try {
    // consoles and agents may start together: one migrates at a time (released when the client ends)
    await client.query("SELECT pg_advisory_lock(hashtext('instaclone-migrate'))");
    if (schema) {
      // an agent's own schema (config.hostSchema: [a-z0-9_] only, so quoting is enough)
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`SET search_path TO "${schema}"`);
    }
    await client.query('CREATE TABLE IF NOT EXISTS "_instaclone_migrations" (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const dir = path.join(root, 'prisma/postgresql/migrations');
    const names = fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, 'migration.sql'))).sort();
    const done = new Set((await client.query('SELECT name FROM "_instaclone_migrations"')).rows.map((r) => r.name));
    for (const name of names.filter((n) => !done.has(n))) {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO "_instaclone_migrations"(name) VALUES ($1)', [name]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw new Error(`Database migration ${name} failed on PostgreSQL: ${(e as Error).message}`);
      }
    }
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Loaded Prisma config'));
  return lines.slice(-3).join(' ');
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (e) => resolve({ code: 1, output: String(e) }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
