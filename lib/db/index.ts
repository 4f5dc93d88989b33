// The one Prisma client, on globalThis: Next.js bundles server code more than once per process.
// SQLite by default; DATABASE_URL=postgresql://… switches to the PostgreSQL twin of the schema.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/sqlite/client';
import { config } from '../config';

export type Db = PrismaClient;

const holder = globalThis as unknown as { __instacloneDb?: { url: string; client: Db } };

export function db(): Db {
  const cfg = config();
  if (holder.__instacloneDb?.url === cfg.databaseUrl) return holder.__instacloneDb.client;
  const adapter =
    cfg.databaseKind === 'postgresql'
      ? new PrismaPg({ connectionString: cfg.databaseUrl })
      : new PrismaBetterSQLite3({ url: cfg.databaseUrl });
  // The PostgreSQL client is generated from the same models, so its API is the SQLite client's.
  const client = new PrismaClient({ adapter }) as Db;
  holder.__instacloneDb = { url: cfg.databaseUrl, client };
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
