// Start-up checks: each failure is one sentence that says what is wrong and how to fix it.
import fs from 'node:fs';
import { config } from './config';
import { migrate } from './db';
import { qemuVersion } from './health';

export async function preflight(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const cfg = config(env);
  await qemuVersion();
  for (const [what, dir] of [
    ['INSTACLONE_HOME', cfg.home],
    ['INSTACLONE_RUN', cfg.run],
  ] as const) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.accessSync(dir, fs.constants.W_OK);
      const probe = `${dir}/.write-probe-${process.pid}`;
      fs.writeFileSync(probe, '');
      fs.rmSync(probe);
    } catch {
      throw new Error(`${what} (${dir}) is not writable: point ${what} at a folder this user can write, or fix its permissions.`);
    }
  }
  await migrate(env);
}
