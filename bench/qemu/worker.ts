// One QEMU's figures for the side-by-side comparison (bench/qemu/compare.ts), in a process of its
// own because the engine reads INSTACLONE_QEMU once: cold boot, fork of one child from a
// prelaunched slot (wall and CPU), fork of N with fresh VMMs, PSS and idle CPU per child.
// Prints one JSON line "RESULT {...}" at the end. Everything it starts is removed at the end.
//   INSTACLONE_QEMU=/opt/qemu10/usr/bin/qemu-system-x86_64 npx tsx bench/qemu/worker.ts --children 20 --ones 3
import fs from 'node:fs';
import { forkSchema, prepareSchema } from '../../lib/validations';
import { privateEnv } from '../lib/env';

const argv = process.argv.slice(2);
const opt = (n: string, d: number) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const children = opt('children', 20);
const ones = opt('ones', 3);
const idleSeconds = opt('idle-seconds', 10);
const MEM = 256;

const { HOME, RUN, MINI } = privateEnv('icqemu');

type EngineT = import('../../lib/engine').Engine;
let engine: EngineT | null = null;

async function cleanup() {
  await engine?.shutdown({ killAll: true }).catch(() => undefined);
  const { qemuPidsUnder, killQemu } = await import('../../lib/engine/process');
  for (const pid of qemuPidsUnder(RUN)) await killQemu(pid, RUN).catch(() => undefined);
  const { disconnectDb } = await import('../../lib/db');
  await disconnectDb().catch(() => undefined);
  fs.rmSync(RUN, { recursive: true, force: true });
  fs.rmSync(HOME, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const { migrate } = await import('../../lib/db');
  await migrate();
  const { qemuVersion } = await import('../../lib/engine/qemu-version');
  const { findImage } = await import('../lib/image');
  const mf = await import('../lib/minifork');
  const { smapsRollup, cpuPercentOver } = await import('../lib/proc');
  const img = await findImage(HOME);
  const machine = mf.machineFor(img, MEM);
  const v = qemuVersion();
  const out: Record<string, unknown> = { qemu: v?.version ?? 'unknown', qemuText: v?.text, binary: v?.binary, children };

  // cold boot to agent-ready, the engine's own argv
  const cb = await mf.coldBoot(MINI, machine, img, 'cold-0');
  out.coldBootMs = cb.readyMs;
  await mf.destroy(cb.vm);

  const { Engine } = await import('../../lib/engine');
  engine = Engine.get();
  await engine.start();
  const tpl = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: 'cmp', slots: ones, prelaunch: true, memory: MEM }));
  const oneMs: number[] = [];
  const oneCpu: number[] = [];
  for (let i = 0; i < ones; i++) {
    const t0 = performance.now();
    const r = await engine.fork(tpl.id, forkSchema.parse({ count: 1, prefix: 'one' }));
    oneMs.push(performance.now() - t0);
    const c = r.details?.[0]?.cpuMs;
    if (c != null) oneCpu.push(c);
    for (const c of r.children) await engine.remove(c.id, { force: true });
  }
  out.fork1Ms = median(oneMs);
  out.fork1CpuMs = median(oneCpu);

  const t0 = performance.now();
  const r = await engine.fork(tpl.id, forkSchema.parse({ count: children, prefix: 'many' }));
  out.forkNMs = performance.now() - t0;
  out.forkNCpuMs = median((r.details ?? []).map((d) => d.cpuMs ?? NaN));
  await new Promise((res) => setTimeout(res, 3000));
  const list = await engine.list();
  const pids = list.vms.filter((x) => x.pid && r.children.some((c) => c.id === x.id)).map((x) => x.pid!) as number[];
  out.pssPerChildMiB = median(pids.map((p) => (smapsRollup(p)?.pss ?? NaN) / 1024));
  out.idleCpuPerChildPct = median([...(await cpuPercentOver(pids, idleSeconds * 1000)).values()]);
  for (const c of r.children) await engine.remove(c.id, { force: true });
  await engine.remove(tpl.id, { force: true });
  console.log(`RESULT ${JSON.stringify(out)}`);
}

main()
  .catch((e) => {
    console.error(`qemu worker failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    process.exit(process.exitCode ?? 0);
  });
