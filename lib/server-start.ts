// Server start-up: preflight (QEMU, writable folders, migrations), credentials, then the engine.
import { config } from './config';
import { preflight } from './preflight';

export async function startServer(): Promise<void> {
  try {
    await preflight();
  } catch (e) {
    console.error(`instaclone: ${(e as Error).message}`);
    process.exit(1);
  }
  const { ensureAdminToken } = await import('./auth/tokens');
  const { ensureFirstAdmin } = await import('./auth/sessions');
  await ensureAdminToken();
  const setup = await ensureFirstAdmin();
  if (setup) {
    console.log(`instaclone: set the admin password (link valid 24 h) at http://localhost:${config().port}/setup?token=${setup}`);
  }
  const { Engine } = await import('./engine');
  await Engine.get().start();
  const { startClusterWatch } = await import('./cluster/watch');
  startClusterWatch(); // many hosts (PostgreSQL): agents that stop heartbeating become lost

}
