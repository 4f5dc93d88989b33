// The validated environment (DESIGN.md "Contracts"). Read once per call site; cheap.
import os from 'node:os';
import path from 'node:path';

export interface Config {
  home: string; // state, disks, database
  run: string; // RAM files and sockets (tmpfs)
  port: number;
  databaseUrl: string;
  databaseKind: 'sqlite' | 'postgresql';
}

export function config(env: NodeJS.ProcessEnv = process.env): Config {
  const home = path.resolve(env.INSTACLONE_HOME || path.join(os.homedir(), '.local/share/instaclone'));
  const run = path.resolve(env.INSTACLONE_RUN || '/dev/shm/instaclone');
  const port = Number(env.PORT || 3000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PORT must be a TCP port number (1-65535), not "${env.PORT}".`);
  }
  const databaseUrl = env.DATABASE_URL || `file:${path.join(home, 'instaclone.db')}`;
  const databaseKind = /^postgres(ql)?:\/\//.test(databaseUrl) ? 'postgresql' : 'sqlite';
  return { home, run, port, databaseUrl, databaseKind };
}
