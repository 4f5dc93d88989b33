// Start-up checks: each failure is one sentence that says what is wrong and how to fix it.
import fs from 'node:fs';
import { config } from './config';
import { migrate } from './db';
import { ensureRunDir } from './engine/run-dir';
import { qemuVersion } from './health';

export async function preflight(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const cfg = config(env);
  await qemuVersion();
  for (const [what, dir] of [
    ['INSTACLONE_HOME', cfg.home],
    ['INSTACLONE_RUN', cfg.run],
  ] as const) {
    if (what === 'INSTACLONE_RUN') ensureRunDir(dir); // its own sentence: pre-created by someone else
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeProbe(dir);
    } catch {
      throw new Error(`${what} (${dir}) is not writable: point ${what} at a folder this user can write, or fix its permissions.`);
    }
  }
  await migrate(env);
}

/** Creates and removes a fresh file in `dir`: O_EXCL|O_NOFOLLOW, so a planted symlink is never followed. */
export function writeProbe(dir: string): void {
  const probe = `${dir}/.write-probe-${process.pid}-${Date.now()}`;
  const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
  fs.closeSync(fs.openSync(probe, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600));
  fs.rmSync(probe);
}
