// Server start-up: preflight (QEMU, writable folders, migrations), then the engine.
import { preflight } from './preflight';

export async function startServer(): Promise<void> {
  try {
    await preflight();
  } catch (e) {
    console.error(`instaclone: ${(e as Error).message}`);
    process.exit(1);
  }
  try {
    const { Engine } = await import('./engine');
    await Engine.get().start();
  } catch (e) {
    console.error(`instaclone: the engine did not start: ${(e as Error).message}`);
  }
}
