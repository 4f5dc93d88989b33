// The console's own API under load, as operators, wall screens and CI systems use it: the built
// console (`next start`, its own engine, HOME and RUN) holding N running children, then
// autocannon on GET /api/v1/ls with an API token (C connections), and the whole-process wall
// time of `bin/instaclone ls` (the shipped bundle). Everything it starts is removed at the end.
// Besides throughput it measures COST, which holds on a loaded, shared host: the console's CPU time
// per request (/proc/PID/stat around each burst, less its idle rate), for `ls` as sent (200), for
// `ls` revalidated with its ETag (304), and for Next.js's own floor (anonymous /api/health: no
// authentication, a cached {ok}: all but an empty route handler).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const exec = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Burst {
  path: string;
  requestsPerSec: number;
  requests: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  non2xx: number;
  errors: number;
  /** the console's CPU time (user+sys) per request, its idle rate taken off */
  serverCpuMsPerRequest: number;
  /** the load generator's own CPU per request (it shares the cores) */
  loadgenCpuMsPerRequest: number;
}

export interface ApiFigures {
  children: number;
  connections: number;
  seconds: number;
  requestsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  non2xx: number;
  errors: number;
  /** `bin/instaclone ls` wall times (whole process), ms */
  cliLsMs: number[];
  /** `node -e 0` on the same machine, same moment: the floor of any Node CLI */
  nodeStartMs: number[];
  /** CPU (user+sys) of each `bin/instaclone ls` and `node -e 0`, ms */
  cliLsCpuMs: number[];
  nodeStartCpuMs: number[];
  /** `node -e 0` without NODE_EXTRA_CA_CERTS (what the CLI starts for an http console), when it is set */
  nodeStartNoCaMs: number[];
  /** the console's CPU while idle with its children, ms per second */
  serverIdleCpuMsPerSec: number;
  ls: Burst;
  /** `ls` with If-None-Match: the ETag it answered (304, no body) */
  ls304: Burst;
  /** Next.js's floor: anonymous /api/health */
  floor: Burst;
}

const TICK_MS = 10; // /proc times are in USER_HZ (100 on Linux)
const procCpuMs = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
};
/** CPU of this process's waited-for children (cutime + cstime): a CLI run's whole cost */
const childrenCpuMs = () => {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
};

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });

async function waitHealthy(url: string, server: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the console exited with code ${server.exitCode} during start-up`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.status === 200 || r.status === 503) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the console did not answer /api/health within ${timeoutMs / 1000} s`);
}

const wall = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

export async function apiLoad(opts: { children: number; connections: number; seconds: number; log: (...a: unknown[]) => void }): Promise<ApiFigures> {
  const { log } = opts;
  if (!fs.existsSync(path.join(repo, '.next/BUILD_ID'))) {
    log('building the console (scripts/build.sh) …');
    const b = spawnSync('bash', [path.join(repo, 'scripts/build.sh')], { stdio: 'inherit' });
    if (b.status !== 0) throw new Error('scripts/build.sh failed: the API figure needs the built console.');
  }
  spawnSync('bash', [path.join(repo, 'scripts/build-cli.sh')], { stdio: 'inherit' });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'icbench-api-home-'));
  const run = fs.mkdtempSync('/dev/shm/icbench-api-run-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    INSTACLONE_HOME: home,
    INSTACLONE_RUN: run,
    DATABASE_URL: `file:${home}/instaclone.db`,
    PORT: String(port),
    NEXT_TELEMETRY_DISABLED: '1',
  };
  let server: ChildProcess | null = null;
  try {
    await exec(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts/ensure-image.ts'), 'tiny'], { env, cwd: repo });
    server = spawn(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'], {
      env, cwd: repo, stdio: ['ignore', 'ignore', 'pipe'], detached: true,
    });
    let stderr = '';
    server.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    await waitHealthy(url, server, 180_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${stderr.trim().split('\n').slice(-2).join(' ')}`);
    });
    const token = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
    const cliEnv = { ...env, INSTACLONE_URL: url, INSTACLONE_TOKEN: token };
    const cli = (...args: string[]) => exec(path.join(repo, 'bin/instaclone'), args, { env: cliEnv, cwd: repo, maxBuffer: 1 << 24 });
    await cli('prepare', '--image', 'tiny', '--name', 'api', '--memory', '256', '--json');
    await cli('fork', 'api', '--count', String(opts.children), '--json');
    log(`console on ${url} holds ${opts.children} running children`);

    const nodeStartMs: number[] = [];
    const nodeStartNoCaMs: number[] = [];
    const cliLsMs: number[] = [];
    const cliLsCpuMs: number[] = [];
    const nodeStartCpuMs: number[] = [];
    const costed = async (f: () => Promise<unknown>, wallMs: number[], cpuMs: number[]) => {
      const c0 = childrenCpuMs();
      wallMs.push(await wall(f));
      cpuMs.push(childrenCpuMs() - c0);
    };
    const { NODE_EXTRA_CA_CERTS: _ca, ...noCa } = process.env;
    await cli('ls', '--json'); // makes the CLI's snapshot if it is missing
    for (let i = 0; i < 10; i++) {
      await costed(() => exec(process.execPath, ['-e', '0']), nodeStartMs, nodeStartCpuMs);
      if (_ca) nodeStartNoCaMs.push(await wall(() => exec(process.execPath, ['-e', '0'], { env: noCa })));
      await costed(() => cli('ls', '--json'), cliLsMs, cliLsCpuMs);
    }

    const autocannon = (await import('autocannon')).default as (o: Record<string, unknown>) => Promise<any>;
    const pid = server.pid!;
    const auth = { authorization: `Bearer ${token}` };
    const idle0 = procCpuMs(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const serverIdleCpuMsPerSec = ((procCpuMs(pid) - idle0) * 1000) / (performance.now() - t0);
    const burst = async (p: string, headers: Record<string, string>, seconds: number): Promise<Burst> => {
      const c0 = procCpuMs(pid);
      const me0 = process.cpuUsage();
      const b0 = performance.now();
      const r = await autocannon({ url: `${url}${p}`, connections: opts.connections, duration: seconds, headers });
      const busyCpu = procCpuMs(pid) - c0 - (serverIdleCpuMsPerSec * (performance.now() - b0)) / 1000;
      const me = process.cpuUsage(me0);
      const n = Math.max(1, r.requests.total);
      return {
        path: p, requestsPerSec: r.requests.average, requests: r.requests.total,
        latencyP50Ms: r.latency.p50, latencyP99Ms: r.latency.p99, latencyMaxMs: r.latency.max,
        non2xx: r.non2xx, errors: r.errors + r.timeouts,
        serverCpuMsPerRequest: Math.max(0, busyCpu) / n,
        loadgenCpuMsPerRequest: (me.user + me.system) / 1000 / n,
      };
    };
    // warm-up: the first requests compile nothing (built), but fill the caches and the JIT
    await autocannon({ url: `${url}/api/v1/ls`, connections: 5, duration: 2, headers: auth });
    const ls = await burst('/api/v1/ls', auth, opts.seconds);
    const etag = (await fetch(`${url}/api/v1/ls`, { headers: auth })).headers.get('etag');
    const ls304 = await burst('/api/v1/ls', { ...auth, ...(etag ? { 'if-none-match': etag } : {}) }, Math.max(3, opts.seconds / 2));
    const floor = await burst('/api/health', {}, Math.max(3, opts.seconds / 2));
    return {
      children: opts.children,
      connections: opts.connections,
      seconds: opts.seconds,
      requestsPerSec: ls.requestsPerSec,
      latencyP50Ms: ls.latencyP50Ms,
      latencyP99Ms: ls.latencyP99Ms,
      latencyMaxMs: ls.latencyMaxMs,
      non2xx: ls.non2xx,
      errors: ls.errors,
      cliLsMs,
      nodeStartMs,
      cliLsCpuMs,
      nodeStartCpuMs,
      nodeStartNoCaMs,
      serverIdleCpuMsPerSec,
      ls,
      ls304,
      floor,
    };
  } finally {
    if (server?.pid) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const { qemuPidsUnder, killQemu } = await import('../../lib/engine/process');
    for (const pid of qemuPidsUnder(run)) await killQemu(pid, run).catch(() => undefined);
    fs.rmSync(run, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
}
