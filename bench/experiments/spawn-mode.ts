// QEMU start, -daemonize (before #12) vs spawned detached and ready at QMP's greeting (now, with the
// sandbox's spawn=deny): `npx tsx bench/experiments/spawn-mode.ts [ROUNDS]`. Alternating, same run;
// each start is timed from spawn to a QMP client connected (greeting + qmp_capabilities), the part
// of a fork the change touches. A child-like argv (pc, TCG, virtio-serial chardevs, -incoming defer).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { qemuBinaryPath } from '../../lib/engine/qemu-version';
import { spawnQemu } from '../../lib/engine/process';
import { QmpClient } from '../../lib/engine/qmp';

const rounds = Number(process.argv[2] ?? 10);
const root = fs.mkdtempSync('/dev/shm/ic-spawn-');

const argv = (dir: string, sandbox: string) => [
  '-machine', 'pc,accel=tcg', '-m', '256', '-nodefaults', '-no-user-config', '-display', 'none',
  '-chardev', `socket,id=ser0,path=${dir}/serial.sock,server=on,wait=off`, '-serial', 'chardev:ser0',
  '-device', 'virtio-serial-pci,id=vser0',
  '-chardev', `socket,id=ga0,path=${dir}/agent.sock,server=on,wait=off`,
  '-device', 'virtserialport,bus=vser0.0,chardev=ga0,name=org.qemu.guest_agent.0',
  '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`, '-sandbox', sandbox, '-incoming', 'defer',
];

/** The engine's start before #12: -daemonize, wait for the foreground process, read the pidfile. */
function daemonized(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(qemuBinaryPath(), [...argv(dir, 'on,obsolete=deny,resourcecontrol=deny'), '-daemonize', '-pidfile', `${dir}/qemu.pid`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    c.on('close', (code) => (code === 0 ? resolve(Number(fs.readFileSync(`${dir}/qemu.pid`, 'utf8'))) : reject(new Error(`exit ${code}`))));
  });
}

async function once(mode: 'daemonize' | 'detached', i: number): Promise<number> {
  const dir = path.join(root, `${mode}-${i}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const t0 = performance.now();
  const pid = mode === 'daemonize' ? await daemonized(dir) : (await spawnQemu(argv(dir, 'on,obsolete=deny,resourcecontrol=deny,spawn=deny,elevateprivileges=deny'), dir)).pid;
  const qmp = await QmpClient.connect(`${dir}/qmp.sock`, { timeoutMs: 60_000 });
  const ms = performance.now() - t0;
  qmp.close();
  process.kill(pid, 'SIGKILL');
  return ms;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const t = { daemonize: [] as number[], detached: [] as number[] };
try {
  for (let i = 0; i < rounds; i++) {
    for (const m of i % 2 ? (['detached', 'daemonize'] as const) : (['daemonize', 'detached'] as const)) t[m].push(await once(m, i));
  }
  const d = median(t.daemonize);
  const n = median(t.detached);
  console.log(JSON.stringify({ rounds, loadavg: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), medianMs: { daemonize: Math.round(d), detached: Math.round(n) }, ratio: Math.round((n / d) * 100) / 100, all: t }));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
