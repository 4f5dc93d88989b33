// Runs after the specs, while the console is still up: delete every VM and template through the API,
// then make sure no QEMU of this run survives (QEMU is daemonized, so stopping the server is not enough),
// and remove the temp dirs.
import fs from 'node:fs';
import path from 'node:path';

export default async function globalTeardown() {
  const base = process.env.E2E_BASE_URL ?? 'http://localhost:3100';
  const home = process.env.E2E_HOME;
  const run = process.env.E2E_RUN;
  if (!home) return;
  let token = '';
  try {
    token = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
  } catch {
    /* the server never started */
  }
  if (token) {
    const h = { authorization: `Bearer ${token}` };
    try {
      const ls = (await (await fetch(`${base}/api/v1/ls`, { headers: h })).json()) as { templates?: { id: string }[]; vms?: { id: string }[] };
      await Promise.allSettled((ls.vms ?? []).map((v) => fetch(`${base}/api/v1/vms/${v.id}?force=1`, { method: 'DELETE', headers: h })));
      for (const t of [...(ls.templates ?? [])].reverse()) await fetch(`${base}/api/v1/templates/${t.id}?force=1`, { method: 'DELETE', headers: h }).catch(() => undefined);
    } catch (e) {
      console.error(`e2e teardown: cleanup through the API failed: ${(e as Error).message}`);
    }
  }
  // Fail-safe: any process whose command line names this run's private dirs is ours; end it by pid.
  const mine = [home, run].filter(Boolean) as string[];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu') || cmd.includes('qemu-system')) {
        if (mine.some((d) => cmd.includes(d))) {
          console.error(`e2e teardown: QEMU pid ${pid} was left running; killing it`);
          process.kill(Number(pid), 'SIGKILL');
        }
      }
    } catch {
      /* gone */
    }
  }
  if (!process.env.E2E_KEEP) {
    for (const d of [run, home]) if (d) fs.rmSync(d, { recursive: true, force: true });
  }
}
