// Experiment: per-stage timings of the fork pipeline with the engine's argv builder.
//   npx tsx bench/experiments/stages.ts [children=5]     (INSTACLONE_ACCEL=tcg|kvm to force)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coldBoot, destroy, freeze, goChild, launchSlot, machineFor, type Vm } from '../lib/minifork';
import { findImage } from '../lib/image';
import { summarize, round } from '../lib/stats';
import { qemuPidsUnder, killQemu } from '../../lib/engine/process';
import { smapsRollup, cpuPercentOver } from '../lib/proc';

const N = Number(process.argv[2] ?? 5);
const root = fs.mkdtempSync('/dev/shm/icbench-exp-');
const home = process.env.INSTACLONE_BENCH_IMAGE ? root : fs.mkdtempSync(path.join(os.tmpdir(), 'icbench-home-'));
async function cleanup() {
  for (const pid of qemuPidsUnder(root)) await killQemu(pid, root);
  fs.rmSync(root, { recursive: true, force: true });
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
// a hung guest can leave the event loop empty (top-level await never settles): kill our QEMUs anyway
process.on('exit', () => {
  for (const pid of qemuPidsUnder(root)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  fs.rmSync(root, { recursive: true, force: true });
});

try {
  const img = await findImage(home);
  const ov: Record<string, unknown> = {};
  if (process.env.BENCH_CPU) ov.cpu = process.env.BENCH_CPU;
  if (process.env.BENCH_ACCEL) ov.accel = process.env.BENCH_ACCEL;
  if (process.env.BENCH_TB) ov.tbSizeMiB = Number(process.env.BENCH_TB);
  if (process.env.BENCH_APPEND) ov.cmdline = img.cmdline + ' ' + process.env.BENCH_APPEND;
  const machine = machineFor(img, 256, ov);
  console.log('accel', machine.accel, machine.cpu, machine.tbSizeMiB, machine.cmdline, 'image', img.source);
  const cold = await coldBoot(root, machine, img, 'parent0');
  console.log('cold boot', round(cold.readyMs), 'ms (spawn', round(cold.spawnMs), 'agent', round(cold.agentMs), ')');
  await new Promise((r) => setTimeout(r, 1000));
  console.log('parent smaps', smapsRollup(cold.vm.pid));
  const fr = await freeze(cold.vm, machine, root);
  console.log('freeze pause', round(fr.pauseMs, 2), 'stop', round(fr.stopMs, 2), 'migrate', round(fr.migrateMs, 2), 'state', fr.stateBytes);
  await destroy({ ...cold.vm, ramPath: undefined } as Vm);
  const slots = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) slots.push(await launchSlot(root, fr, img));
  console.log('launched', N, 'slots in', round(performance.now() - t0), 'ms; spawn', summarize(slots.map((s) => s.spawnMs)), 'qmp', summarize(slots.map((s) => s.qmpMs)));
  const t1 = performance.now();
  const st = [];
  for (const s of slots) st.push(await goChild(s.vm));
  console.log('forked', N, 'serially in', round(performance.now() - t1), 'ms');
  for (const k of ['loadMs', 'contMs', 'agentMs', 'identityMs'] as const) console.log(k, summarize(st.map((x) => x[k])));
  await new Promise((r) => setTimeout(r, 2000));
  const cpu = await cpuPercentOver(slots.map((s) => s.vm.pid), 5000);
  console.log('idle cpu % per child', [...cpu.values()].map((x) => round(x, 2)));
  console.log('child smaps', slots.map((s) => smapsRollup(s.vm.pid)!.pss / 1024).map((x) => round(x)));
} finally {
  await cleanup();
}
