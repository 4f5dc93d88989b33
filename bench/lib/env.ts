// A private engine environment for a bench process, set BEFORE the engine is imported (its modules
// read INSTACLONE_* when first loaded): a temp INSTACLONE_HOME with its own SQLite database, a run
// dir on tmpfs (with `mini/` for the hand-made VMs of the experiments), the shared image cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function privateEnv(tag: string): { HOME: string; RUN: string; MINI: string } {
  const HOME = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-home-`));
  const RUN = fs.mkdtempSync(`/dev/shm/${tag}-run-`);
  const MINI = path.join(RUN, 'mini');
  fs.mkdirSync(MINI, { mode: 0o700 });
  process.env.INSTACLONE_HOME = HOME;
  process.env.INSTACLONE_RUN = RUN;
  process.env.DATABASE_URL = `file:${HOME}/db.sqlite`;
  process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache/instaclone/images');
  return { HOME, RUN, MINI };
}
