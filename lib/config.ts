// The validated environment (DESIGN.md "Contracts"). Read once per call site; cheap.
import os from 'node:os';
import path from 'node:path';

export interface Config {
  home: string; // state, disks, database
  run: string; // RAM files and sockets (tmpfs)
  port: number;
  databaseUrl: string;
  databaseKind: 'sqlite' | 'postgresql';
  /** this host's name among many (INSTACLONE_HOST_NAME; default: the machine's host name) */
  hostName: string;
  /** PostgreSQL schema of this process's engine state: an agent's own (host_NAME), else the default */
  dbSchema: string | undefined;
}

/** Host names: lower-case letters, digits and dashes (no underscore, so host_NAME schemas never clash). */
export const HOST_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** The PostgreSQL schema an agent keeps its engine state in. */
export const hostSchema = (name: string) => `host_${name.replace(/-/g, '_')}`;

export function config(env: NodeJS.ProcessEnv = process.env): Config {
  const home = path.resolve(env.INSTACLONE_HOME || path.join(os.homedir(), '.local/share/instaclone'));
  const run = path.resolve(env.INSTACLONE_RUN || '/dev/shm/instaclone');
  const port = Number(env.PORT || 3000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PORT must be a TCP port number (1-65535), not "${env.PORT}".`);
  }
  const databaseUrl = env.DATABASE_URL || `file:${path.join(home, 'instaclone.db')}`;
  const databaseKind = /^postgres(ql)?:\/\//.test(databaseUrl) ? 'postgresql' : 'sqlite';
  const hostName = env.INSTACLONE_HOST_NAME || os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'localhost';
  if (!HOST_NAME_RE.test(hostName)) {
    throw new Error(`INSTACLONE_HOST_NAME must be 1-40 lower-case letters, digits or dashes (not at either end), not "${hostName}".`);
  }
  // set by `npm run agent` only: a console's engine keeps the default schema
  const dbSchema = env.INSTACLONE_AGENT === '1' && databaseKind === 'postgresql' ? hostSchema(hostName) : undefined;
  return { home, run, port, databaseUrl, databaseKind, hostName, dbSchema };
}
