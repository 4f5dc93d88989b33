// Experiment (issue 13): QEMU background-snapshot on a running child, into a file.
//   INSTACLONE_QEMU_USER= INSTACLONE_ACCEL=tcg npx tsx bench/experiments/live-fork-exp.ts [nostop|prestop]
// Seen here (QEMU 7.2, kernel 6.18, 256 MiB child, RAM MAP_PRIVATE of a tmpfs file):
// - as the unprivileged QEMU user (-runas): "Background-snapshot is not supported by host kernel"
//   (vm.unprivileged_userfaultfd=0; as root the kernel offers uffd write-protect);
// - nostop: setup ~0.9 s with the guest running (QEMU populates every page), then STOP → RESUME 12 ms
//   (QEMU downtime 23 ms), 87 MB stream, source running throughout, marker still there;
// - prestop (our own `stop` first, e.g. to copy the disk): QEMU resumes the VM itself after the device
//   save, but the ~1 s setup now falls inside the pause: no gain over a plain stop-and-copy.
// - memory (smaps_rollup of the child, 2 s before/after; load avg ~20): nostop and plain alike went from
//   RSS 64 → 297 MiB, Private_Dirty 51 → 135 MiB: reading every page for any outgoing migration maps
//   all of RAM (and fills the template file's holes on tmpfs); the uffd write-protect adds nothing.
//   Pause at load ~20: STOP → RESUME 137 ms (QEMU downtime 145).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setupEnv } from '../../tests/engine/engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';
const env = setupEnv('lfexp');
const dbm = await import('../../lib/db');
await dbm.migrate();
const { Engine } = await import('../../lib/engine');
const E = Engine.get();
const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lfexp-')), 'snap.bin');
await E.start();
try {
  console.log('preparing'); await E.prepare(prepareSchema.parse({ name: 'web', warmup: ['echo hi > /tmp/marker'] }), { onProgress: (p) => console.log(p) }); console.log('prepared');
  const f = await E.fork('web', forkSchema.parse({ count: 1 }));
  const name = f.children[0].name;
  const mode = process.argv[2] ?? 'prestop'; // nostop | prestop | plain (stop, ordinary migrate, cont)
  const core = (E as any).core;
  const v = core.vmms.get(f.children[0].id);
  const q = v.qmp;
  console.log(await q.execute('query-migrate-capabilities').then((c: any) => c.filter((x: any) => /background|ignore/.test(x.capability))));
  const { procMemory } = await import('../../lib/engine/metrics');
  await new Promise((r) => setTimeout(r, 2000));
  console.log('smaps before', procMemory(v.pid));
  const r = await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'background-snapshot', state: mode !== 'plain' }, { capability: 'x-ignore-shared', state: false }, { capability: 'events', state: true }] }).then(() => 'ok', (e: any) => 'ERR ' + e.message);
  console.log('set bg', r);
  const events: any[] = [];
  for (const ev of ['STOP', 'RESUME', 'MIGRATION']) q.on(ev, (e: any) => events.push([performance.now().toFixed(1), ev, JSON.stringify(e.data ?? {})]));
  const t0 = performance.now();
  if (mode === 'prestop' || mode === 'plain') await q.execute('stop');
  const tS = performance.now();
  await q.execute('migrate', { uri: `exec:cat > ${out}` }).then(() => console.log('migrate issued'), (e: any) => console.log('migrate ERR', e.message));
  for (let i = 0; i < 600; i++) {
    const st: any = await q.execute('query-status');
    const m: any = await q.execute('query-migrate');
    if (i < 5 || m.status === 'completed' || m.status === 'failed') console.log((performance.now() - t0).toFixed(1), st.status, m.status, m['error-desc'] ?? '', m.downtime);
    if (m.status === 'completed' || m.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (mode === 'plain') await q.execute('cont');
  await new Promise((r) => setTimeout(r, 2000));
  console.log('smaps after', procMemory(v.pid));
  console.log('t0', t0.toFixed(1), 'tS', tS.toFixed(1), events);
  console.log('size', fs.statSync(out).size);
  const res = await E.exec(name, execSchema.parse({ command: ['/bin/sh', '-c', 'cat /tmp/marker; cat /proc/uptime'] }));
  console.log(res);
} finally {
  const { teardownEnv } = await import('../../tests/engine/engine-env');
  await teardownEnv(env);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
}
