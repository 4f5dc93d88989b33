// The engine of a one-off experiment (bench/experiments/*): a private home (0711, so per-VM QEMU
// uids can pass) and run dir on tmpfs, its own SQLite database, the shared image cache; `done()`
// stops the engine, kills any QEMU left under the run dir and removes both dirs. Set the
// INSTACLONE_* variables an experiment needs BEFORE calling it: the engine reads them on import.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function experimentEngine(tag: string) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  fs.chmodSync(base, 0o711);
  const run = path.join('/dev/shm', `${tag}-${path.basename(base)}`);
  process.env.INSTACLONE_HOME = path.join(base, 'home');
  process.env.INSTACLONE_RUN = run;
  process.env.DATABASE_URL = `file:${path.join(base, 'home', 'db.sqlite')}`;
  process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache/instaclone/images');
  const { migrate } = await import('../../lib/db');
  const { Engine } = await import('../../lib/engine');
  const { qemuPidsUnder, killQemu } = await import('../../lib/engine/process');
  await migrate();
  const engine = Engine.get();
  await engine.start();
  const done = async () => {
    await engine.shutdown({ killAll: true });
    for (const pid of qemuPidsUnder(run)) await killQemu(pid, run);
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(run, { recursive: true, force: true });
  };
  return { engine, done };
}
