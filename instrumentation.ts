// Runs once when the console's server starts: migrate, then start the one engine (which re-adopts
// running VMs). Next bundles this separately from route handlers; the engine lives on globalThis.
export async function register() {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { startServer } = await import('./lib/server-start');
  await startServer();
}
