// Which clocksource a tiny child runs on under each device profile, and how far its clock drifts
// from the host's over a minute: `npx tsx bench/experiments/clock-check.ts [seconds=60]`.
import os from 'node:os';

const WAIT = Number(process.argv[2] ?? 60) * 1000;
process.env.INSTACLONE_SLOT_TOPUP = '0';
const { experimentEngine } = await import('../lib/experiment');
const { execSchema, forkSchema, prepareSchema } = await import('../../lib/validations');
const { engine, done } = await experimentEngine('ic-clk');
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
  await done();
}
process.exit(0);
