// Which clocksource a tiny child runs on under each device profile, and how far its clock drifts
// from the host's over a minute: `npx tsx bench/experiments/clock-check.ts [seconds=60]`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const WAIT = Number(process.argv[2] ?? 60) * 1000;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-clk-'));
fs.chmodSync(base, 0o711);
process.env.INSTACLONE_HOME = path.join(base, 'home');
process.env.INSTACLONE_RUN = path.join('/dev/shm', `ic-clk-${path.basename(base)}`);
process.env.DATABASE_URL = `file:${path.join(base, 'home', 'db.sqlite')}`;
process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache/instaclone/images');
process.env.INSTACLONE_SLOT_TOPUP = '0';
const { migrate } = await import('../../lib/db');
const { Engine } = await import('../../lib/engine');
const { execSchema, forkSchema, prepareSchema } = await import('../../lib/validations');
const { qemuPidsUnder, killQemu } = await import('../../lib/engine/process');
await migrate();
const engine = Engine.get();
await engine.start();
const script =
  'cat /sys/devices/system/clocksource/clocksource0/current_clocksource /sys/devices/system/clocksource/clocksource0/available_clocksource; dmesg | grep -i -E "clocksource|tsc" | tail -5; ' +
  't=$(adjtimex); s=${t#*tv_sec:}; u=${t#*tv_usec:}; echo ${s%%[!0-9 ]*} ${u%%[!0-9 ]*}';
const skew = async (id: string) => {
  const before = Date.now();
  const r = (await engine.exec(id, execSchema.parse({ command: ['/bin/sh', '-c', script] }))) as { stdout: string };
  const after = Date.now();
  const lines = r.stdout.trim().split('\n');
  const [sec, usec] = lines.at(-1)!.trim().split(/\s+/).map(Number);
  const g = sec * 1000 + usec / 1000;
  return { skewMs: Math.round(g < before ? g - before : g > after ? g - after : 0), info: lines.slice(0, -1).join(' | ') };
};
try {
  const kids: { p: string; id: string }[] = [];
  for (const p of ['standard', 'lean']) {
    process.env.INSTACLONE_DEVICES = p;
    const t = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: `clk-${p}`, memory: 256 }));
    const f = (await engine.fork(t.id, forkSchema.parse({ count: 1, prefix: `clk-${p}` }))) as { children: { id: string }[] };
    kids.push({ p, id: f.children[0].id });
    const s = await skew(f.children[0].id);
    console.log(`${p}: at fork skew ${s.skewMs} ms; ${s.info}`);
  }
  await new Promise((r) => setTimeout(r, WAIT));
  for (const k of kids) console.log(`${k.p}: after ${WAIT / 1000} s skew ${(await skew(k.id)).skewMs} ms (load ${os.loadavg()[0].toFixed(1)})`);
} finally {
  await engine.shutdown({ killAll: true });
  for (const pid of qemuPidsUnder(process.env.INSTACLONE_RUN!)) await killQemu(pid, process.env.INSTACLONE_RUN!);
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(process.env.INSTACLONE_RUN!, { recursive: true, force: true });
}
process.exit(0);
