// Experiment: where a child's agent + identity time goes. Boots one parent, freezes it, forks K
// children (engine's pieces, bench/lib/minifork.ts) and times, per child, single agent round trips:
// guest-ping, guest-set-time, guest-exec /bin/true (+ exec-status polls), the identity script.
//   npx tsx bench/experiments/agent-costs.ts [children=5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coldBoot, destroy, freeze, goChild, launchSlot, machineFor, type Vm } from '../lib/minifork';
import { findImage } from '../lib/image';
import { summarize, round } from '../lib/stats';
import { qemuPidsUnder, killQemu } from '../../lib/engine/process';

const K = Number(process.argv[2] ?? 5);
const root = fs.mkdtempSync('/dev/shm/icbench-exp-');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'icbench-home-'));
process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache/instaclone/images');
async function cleanup() {
  for (const pid of qemuPidsUnder(root)) await killQemu(pid, root);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
// a hung guest can leave the event loop empty (top-level await never settles): kill our QEMUs anyway
process.on('exit', () => {
  for (const pid of qemuPidsUnder(root)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  fs.rmSync(root, { recursive: true, force: true });
});
const t = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};
try {
  const img = await findImage(home);
  const machine = machineFor(img, 256);
  const cold = await coldBoot(root, machine, img, 'parent0');
  const fr = await freeze(cold.vm, machine, root);
  await destroy({ ...cold.vm, ramPath: undefined } as Vm);
  const res: Record<string, number[]> = { ping: [], setTime: [], execTrue: [], execTruePolls: [], execSh3: [], identity: [] };
  for (let i = 0; i < K; i++) {
    const s = await launchSlot(root, fr, img);
    const g = await goChild(s.vm, { identity: true });
    res.identity.push(g.identityMs);
    const a = s.vm.agent!;
    for (let j = 0; j < 3; j++) res.ping.push(await t(() => a.ping()));
    res.setTime.push(await t(() => a.call('guest-set-time', { time: Date.now() * 1e6 })));
    let polls = 0;
    res.execTrue.push(await t(async () => (polls = (await a.exec(['/bin/true'], { firstPollMs: 5 })).polls ?? 0)));
    res.execTruePolls.push(polls);
    res.execSh3.push(await t(() => a.exec(['/bin/sh', '-c', 'hostname >/dev/null; cat /etc/machine-id >/dev/null; ip -4 -o addr show dev eth0 >/dev/null'], { firstPollMs: 5 })));
    await destroy(s.vm);
  }
  for (const [k, v] of Object.entries(res)) {
    const s = summarize(v);
    console.log(k.padEnd(14), 'median', round(s.median), 'p95', round(s.p95), 'n', s.n);
  }
} finally {
  await cleanup();
}
