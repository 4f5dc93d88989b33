// Instaclone benchmark (issue 7): `npm run bench` (full) or `npm run bench -- --quick`.
//
// Measures in ONE run, on this machine, side by side: cold boot vs fork of one child, fork-phase
// throughput (fresh VMMs vs prelaunched slots), memory per idle child vs full copies, idle CPU per
// child and how many children the host holds while the console stays responsive, reset, and the
// parent's pause during freeze. Prints a table (figure, target, pass/miss) and writes
// bench/results/latest.json plus bench/results/bench-<timestamp>.json.
//
// Options: --quick                 short run (sizes 10,20; 10 runs; ramp cap 30)
//          --sizes 10,50,100       fork-phase sizes            --runs N     samples for cold/fork/reset/freeze (≥10)
//          --cap N                 ramp cap (children)         --step N     ramp step
//          --ramp-minutes M        ramp time budget            --idle-seconds S   CPU sampling window (10)
//          --skip a,b              skip scenarios: cold,fork1,throughput,memory,ksm,ramp,reset,stages,pools,liveFork,api,qemu,imported,hosts
//          --ksm-children N        ksm scenario: idle children merged by KSM (30; quick 10; root)
//          --pool-spares N         pool scenario: spares kept and claimed in one burst (50; quick 10)
//          --pool-claims N         pool scenario: one-at-a-time claims at the REST API (20)
//          --compare-qemu PATH     second QEMU for the side-by-side (default /opt/qemu10/usr/bin/qemu-system-x86_64 when there)
//          --qemu-rounds N --qemu-children N   its rounds (2; quick 1) and fork size (50; quick 10)
//          --api-children N        api scenario: children running while the API is loaded (10)
//          --no-save               do not write bench/results
//          --merge                 latest.json keeps the figures of scenarios this run skipped (only the figures
//                                  measured now replace theirs); the run is listed in its "merged" array
// Environment: INSTACLONE_ACCEL=tcg|kvm forces the accelerator (the engine detects KVM itself);
//   INSTACLONE_IMAGE_CACHE (image cache; default ~/.cache/instaclone/images).
//   Everything else (INSTACLONE_HOME, INSTACLONE_RUN, DATABASE_URL) is set to private temp dirs,
//   removed at the end together with every QEMU process of the run (also on SIGINT/SIGTERM).
//
// ─── JSON format (schema "instaclone-bench/1"; stable: fields are only ever added) ───────────────
// {
//   "schema": "instaclone-bench/1",
//   "mode": "full" | "quick",
//   "startedAt": ISO, "finishedAt": ISO, "durationS": number,
//   "machine": { "hostname", "cores", "cpuModel", "memTotalMiB", "hostKernel",
//                "accel": "tcg" | "kvm",            // what the VMs of this run really used
//                "kvmDevice": boolean,              // /dev/kvm exists
//                "kvmUsable": boolean,              // the engine's probe found KVM working
//                "qemuVersion", "machineType", "deviceProfile" ("standard" | "lean", lib/engine/argv.ts), "guestKernel", "guestMemoryMiB", "tbSizeMiB",
//                "image": { "name": "tiny", "source" }, "loadavgStart": [1,5,15], "loadavgEnd": [...],
//                "node", "forkConcurrency" },
//   "options": { sizes, runs, cap, step, idleSeconds, rampMinutes },
//   "metrics": {            // every figure, by stable id (see METRIC IDS below)
//     "<id>": { "label", "unit",            // unit: "ms" | "s" | "MiB" | "MiB/s" | "%core" | "children" | "children/s" | "x" | "%"
//               "samples": number[],       // raw samples (one per run / child); [] for derived figures
//               "n", "median", "p95", "mean", "min", "max",   // null when no samples
//               "value": number | null,    // the headline figure (median unless said otherwise)
//               "target"?: { "op": "<=" | ">=", "value", "text" },
//               "pass"?: boolean | null,   // null: not measured
//               "boundBy"?: string,        // what limits it, when missed (words with figures)
//               "notes"?: string[] } },
//   "breakdown": {          // per-child stage timings (ms) by path, each a summary {n,median,p95,mean,min,max,samples}
//     "forkFresh": {spawnMs,loadMs,agentMs,identityMs,totalMs}, "forkPrelaunched": {...},
//     "stages": {spawnMs,qmpMs,loadMs,contMs,agentMs,identityMs,cpuSpawnMs,cpuReadyMs}   // bench/lib/minifork.ts on the engine's pieces
//     (cpuMs / cpuSpawnMs / cpuReadyMs: user+sys CPU of the child's QEMU, /proc/PID/stat: spawn → QMP, load → identity verified)
//   },
//   "throughput": [ { "count", "prelaunched": bool, "totalMs", "childrenPerSec", "perChildMs": summary,
//                     "stages": { spawnMs, loadMs, agentMs, identityMs } } ],
//   "memory": { "children", "guestRamMiB", "perChild": { pssMiB, privateDirtyMiB, anonMiB, sharedPct } (summaries),
//               "totalPssMiB", "fullCopyMiB", "fullCopyPerVmMiB", "coldVm": { pssMiB, ramRssMiB, overheadMiB }, "savedPct" },
//   "ramp": { "definition", "steps": [ { "children", "forkMs", "listMs", "httpMs", "ok", "hostCpuPct",
//             "memAvailableMiB", "totalPssMiB" } ], "maxResponsive", "stopReason" },
//   "qemuCompare": null | { "rounds", "children", "runs": [ { "binary", "version", "rounds": [figures…],
//                    "median": { coldBootMs, fork1Ms, fork1CpuMs, forkNMs, forkNCpuMs, pssPerChildMiB, idleCpuPerChildPct } } ],
//                  "ratio": { same keys: second ÷ first }, "errors" },   // bench/qemu/compare.ts
//   "api": null | { children, connections, seconds, requestsPerSec, latencyP50Ms, latencyP99Ms, latencyMaxMs, non2xx, errors,
//                   cliLsMs: [], nodeStartMs: [], cliLsCpuMs: [], nodeStartCpuMs: [], nodeStartNoCaMs: [], serverIdleCpuMsPerSec,
//                   ls | ls304 | floor: { path, requestsPerSec, requests, latencyP50Ms, latencyP99Ms, latencyMaxMs, non2xx, errors,
//                                         serverCpuMsPerRequest, loadgenCpuMsPerRequest } },   // bench/scenarios/api.ts
//   "targets": [ { "id", "label", "value", "unit", "target", "op", "pass", "boundBy" } ],   // the table rows
//   "recommendations": string[],
//   "errors": [ { "scenario", "message" } ]
// }
// METRIC IDS: coldBoot.readyMs, fork1.fresh.readyMs, fork1.prelaunched.readyMs, fork1.speedup (x, cold/prelaunched
//   medians), fork1.speedupFresh, fork1.<prelaunched|fresh>.cpuMs (CPU of the child's QEMU, fork → ready), throughput.<fresh|prelaunched>.<N>.totalMs, throughput.prelaunched.max.totalMs,
//   memory.pssPerChildMiB, memory.ksm.pssPerChildMiB (with KSM, whole QEMU mergeable), memory.ksm.pssOffPerChildMiB (same
//   children before merging), memory.ksm.ksmdCpuMsPerChild, memory.ksm.ksmdSteadyPct, memory.privateDirtyPerChildMiB, memory.sharedPct, memory.totalPssMiB, memory.fullCopyMiB,
//   idle.cpuPerChildPct, idle.coldVmCpuPct, ramp.maxChildren, reset.ms (from the spare VMM), reset.freshMs, freeze.pauseMs, freeze.enginePauseMs,
//   imported.coldBoot.readyMs, imported.fork1.readyMs, imported.fork1.identityMs, imported.fork1.speedup, imported.fork10.totalMs,
//   pool.claim.restMs (one claim at a time, HTTP + token + route + engine), pool.burst.totalMs,
//   pool.burst.claimMs (each claim of the burst, client side), pool.burst.engineClaimMs, pool.refill.perSec,
//   api.ls.requestsPerSec, api.ls.p99Ms, api.ls.cpuMsPerRequest, api.ls304.cpuMsPerRequest, api.floor.cpuMsPerRequest,
//   cli.lsMs, cli.nodeStartMs, cli.nodeStartNoCaMs, cli.lsCpuMs
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { execSchema, forkSchema, importImageSchema, liveForkSchema, prepareSchema } from '../lib/validations';
import { fileURLToPath } from 'node:url';
import { privateEnv } from './lib/env';
import { meets, ratio, round, summarize, type Summary, type TargetOp } from './lib/stats';
import { cpuPercentOver, hostCpu, memAvailableMiB, smapsMapping, smapsRollup, processCmdline, accelOf } from './lib/proc';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

// ─── options ─────────────────────────────────────────────────────────────────────────────────
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string): string | undefined => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${n}=`))?.split('=')[1];
};
const quick = flag('quick');
const options = {
  sizes: (opt('sizes') ?? (quick ? '10,20' : '10,50,100')).split(',').map(Number).filter((n) => n > 0),
  runs: Math.max(Number(opt('runs') ?? 10), 1),
  cap: Number(opt('cap') ?? (quick ? 30 : 200)),
  step: Number(opt('step') ?? 10),
  idleSeconds: Number(opt('idle-seconds') ?? 10),
  rampMinutes: Number(opt('ramp-minutes') ?? (quick ? 4 : 15)),
  responsiveMs: 500,
  /** pool scenario: spares in the pool (= claims in the burst) and one-at-a-time claims at the REST API */
  poolSpares: Number(opt('pool-spares') ?? (quick ? 10 : 50)),
  poolClaims: Number(opt('pool-claims') ?? 20),
  /** ksm scenario: idle children merged by KSM */
  ksmChildren: Number(opt('ksm-children') ?? (quick ? 10 : 30)),
};
const skip = new Set((opt('skip') ?? '').split(',').filter(Boolean));
const save = !flag('no-save');
const merge = flag('merge');

// ─── private environment, set BEFORE the engine is imported ──────────────────────────────────
const { HOME, RUN, MINI } = privateEnv('icbench');
process.env.NEXT_TELEMETRY_DISABLED = '1';
// slots a fork used are not topped up in the background here (a scenario's forks would compete with
// the top-up's QEMU starts); the fork1 scenario turns it on and waits for it between forks
process.env.INSTACLONE_SLOT_TOPUP = '0';

type EngineT = import('../lib/engine').Engine;
let engine: EngineT | null = null;
let server: http.Server | null = null;
let cleaning: Promise<void> | null = null;

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    server?.close();
    try {
      await engine?.shutdown({ killAll: true });
    } catch {
      /* keep cleaning */
    }
    // every QEMU of this run mentions RUN in its argv: kill them by pid
    const { qemuPidsUnder, killQemu } = await import('../lib/engine/process');
    for (const pid of qemuPidsUnder(RUN)) await killQemu(pid, RUN).catch(() => undefined);
    try {
      const { disconnectDb } = await import('../lib/db');
      await disconnectDb();
    } catch {
      /* not loaded */
    }
    fs.rmSync(RUN, { recursive: true, force: true });
    fs.rmSync(HOME, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping every QEMU of this run and removing ${RUN} and ${HOME} …`);
    cleanup().finally(() => process.exit(130));
  });
}

// ─── result model ────────────────────────────────────────────────────────────────────────────
interface Metric extends Summary {
  label: string;
  unit: string;
  samples: number[];
  value: number | null;
  target?: { op: TargetOp; value: number; text: string };
  pass?: boolean | null;
  boundBy?: string;
  notes?: string[];
}
const metrics: Record<string, Metric> = {};
const errors: { scenario: string; message: string }[] = [];
const breakdown: Record<string, Record<string, Summary & { samples: number[] }>> = {};
const throughput: Record<string, unknown>[] = [];
let memory: Record<string, unknown> | null = null;
let ramp: Record<string, unknown> | null = null;

const r1 = (x: number | null | undefined) => round(x, 1);
function sum(samples: number[], digits = 1): Summary & { samples: number[] } {
  const s = summarize(samples);
  return {
    n: s.n, median: round(s.median, digits), p95: round(s.p95, digits), mean: round(s.mean, digits),
    min: round(s.min, digits), max: round(s.max, digits), samples: samples.map((x) => round(x, digits)!),
  };
}
function metric(id: string, label: string, unit: string, samples: number[], extra: Partial<Metric> = {}, digits = 1): Metric {
  const s = sum(samples, digits);
  const m: Metric = { label, unit, ...s, value: s.median, ...extra };
  if (extra.value !== undefined) m.value = round(extra.value, digits);
  if (m.target) m.pass = meets(m.value, m.target.op, m.target.value);
  metrics[id] = m;
  return m;
}
const T = (op: TargetOp, value: number, text: string) => ({ op, value, text });

async function scenario(name: string, fn: () => Promise<void>) {
  if (skip.has(name)) return;
  const t0 = performance.now();
  console.log(`\n▶ ${name}`);
  try {
    await fn();
  } catch (e) {
    const msg = (e as Error).stack ?? String(e);
    errors.push({ scenario: name, message: (e as Error).message });
    console.error(`  ✗ ${name} failed: ${msg}`);
  }
  console.log(`  (${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
const log = (...a: unknown[]) => console.log('  ', ...a);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ─── main ────────────────────────────────────────────────────────────────────────────────────
async function main() {
  const startedAt = new Date();
  const loadStart = os.loadavg();
  console.log(`Instaclone benchmark (${quick ? 'quick' : 'full'}): home ${HOME}, run ${RUN}`);

  const { migrate } = await import('../lib/db');
  await migrate();
  const { findImage } = await import('./lib/image');
  const img = await findImage(HOME);
  const { detectAccel } = await import('../lib/engine/argv');
  const mf = await import('./lib/minifork');
  const FORK_CONCURRENCY = (await import('../lib/engine/fork')).forkConcurrency();
  const accel = detectAccel();
  const MEM = 256;
  const machine = mf.machineFor(img, MEM);
  const { qemuVersion: probeQemu } = await import('../lib/engine/qemu-version');
  const qemuVersion = (probeQemu()?.text ?? execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]).replace(/^QEMU emulator version /, '');
  const machineFacts: Record<string, unknown> = {
    hostname: os.hostname(),
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    hostKernel: os.release(),
    accel,
    kvmDevice: fs.existsSync('/dev/kvm'),
    kvmUsable: accel === 'kvm',
    qemuVersion,
    machineType: machine.machine,
    deviceProfile: machine.devices ?? 'standard',
    guestKernel: img.guestKernel,
    guestMemoryMiB: MEM,
    tbSizeMiB: accel === 'tcg' ? machine.tbSizeMiB : null,
    image: { name: 'tiny', source: img.source },
    loadavgStart: loadStart.map((x) => round(x, 2)),
    node: process.version,
    forkConcurrency: FORK_CONCURRENCY,
  };
  console.log(`accelerator: ${accel.toUpperCase()}${accel === 'kvm' ? ' (KVM is used)' : machineFacts.kvmDevice ? ' (/dev/kvm exists but KVM does not work here: TCG)' : ' (no /dev/kvm: TCG)'}; QEMU ${qemuVersion}; guest kernel ${img.guestKernel}; ${os.cpus().length} cores`);

  const { Engine } = await import('../lib/engine');
  engine = Engine.get();
  await engine.start();
  const E = engine;

  // tiny local server: "the console answers" = this process's event loop serves HTTP in time
  server = http.createServer((_q, s) => s.end('ok'));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const httpGet = () =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });

  let seq = 0;
  const name = (p: string) => `${p}${++seq}`;
  const pidsOf = async (ids: string[]) => {
    const l = await E.list();
    const set = new Set(ids);
    return l.vms.filter((v) => set.has(v.id) && v.pid).map((v) => v.pid!) as number[];
  };
  const removeAll = async (ids: string[]) => {
    for (const id of ids) await E.remove(id, { force: true }).catch((e) => errors.push({ scenario: 'cleanup', message: (e as Error).message }));
  };
  const removeTpl = async (id: string) => {
    await E.remove(id, { force: true }).catch((e) => errors.push({ scenario: 'cleanup', message: (e as Error).message }));
  };

  // ── 1a + 6 + stages: cold boots (same argv builder as a parent), each frozen (pause), cold-VM memory/CPU
  let coldPss: { pssMiB: number; ramRssMiB: number; overheadMiB: number; cpuPct: number | null } | null = null;
  await scenario('cold', async () => {
    const ready: number[] = [];
    const pauses: number[] = [];
    const stopMs: number[] = [];
    let frozen: Awaited<ReturnType<typeof mf.freeze>> | null = null;
    for (let i = 0; i < options.runs; i++) {
      const cb = await mf.coldBoot(MINI, machine, img, `cold-${i}`);
      ready.push(cb.readyMs);
      if (i === 0) {
        await sleep(3000);
        const m = smapsRollup(cb.vm.pid)!;
        const ram = smapsMapping(cb.vm.pid, cb.vm.ramPath!)!;
        const cpu = (await cpuPercentOver([cb.vm.pid], options.idleSeconds * 1000)).get(cb.vm.pid) ?? null;
        coldPss = { pssMiB: m.pss / 1024, ramRssMiB: ram.rss / 1024, overheadMiB: (m.pss - ram.pss) / 1024, cpuPct: cpu };
        log(`cold VM idle: PSS ${r1(coldPss.pssMiB)} MiB (guest RAM resident ${r1(coldPss.ramRssMiB)} MiB, QEMU overhead ${r1(coldPss.overheadMiB)} MiB), CPU ${round(cpu, 2)} % of a core`);
      }
      const f = await mf.freeze(cb.vm, machine, MINI);
      pauses.push(f.pauseMs);
      stopMs.push(f.stopMs);
      log(`cold boot ${i + 1}/${options.runs}: ${Math.round(cb.readyMs)} ms to agent-ready (spawn ${Math.round(cb.spawnMs)}), freeze pause ${r1(f.pauseMs)} ms, checkpoint ${Math.round(f.stateBytes / 1024)} KiB`);
      await mf.destroy({ ...cb.vm, ramPath: undefined });
      if (frozen) {
        fs.rmSync(frozen.stateFile, { force: true });
        fs.rmSync(frozen.ramPath, { force: true });
      }
      frozen = f;
    }
    metric('coldBoot.readyMs', 'Cold boot to agent-ready', 'ms', ready);
    metric('freeze.pauseMs', 'Parent paused during freeze (QMP stop → migrate completed)', 'ms', pauses, {
      target: T('<=', 50, '≤ 50 ms'),
      boundBy: `QMP stop alone takes median ${r1(summarize(stopMs).median)} ms (the vCPU leaves its translated code; the host is at load ${os.loadavg()[0].toFixed(1)}), the rest is writing the device state with x-ignore-shared`,
      notes: [`stop alone: median ${r1(summarize(stopMs).median)} ms`],
    }, 2);
    if (coldPss) {
      metric('idle.coldVmCpuPct', 'Idle CPU of one cold-booted VM', '%core', [coldPss.cpuPct ?? NaN], {}, 2);
    }

    // stages: one child at a time on the engine's pieces, from the last frozen parent
    if (!skip.has('stages') && frozen) {
      const st: Record<string, number[]> = { spawnMs: [], qmpMs: [], loadMs: [], contMs: [], agentMs: [], identityMs: [], cpuSpawnMs: [], cpuReadyMs: [], totalMs: [] };
      const vms = [];
      for (let i = 0; i < options.runs; i++) {
        const t0 = performance.now();
        const s = await mf.launchSlot(MINI, frozen, img);
        const g = await mf.goChild(s.vm);
        st.totalMs.push(performance.now() - t0);
        st.spawnMs.push(s.spawnMs);
        st.qmpMs.push(s.qmpMs);
        st.loadMs.push(g.loadMs);
        st.contMs.push(g.contMs);
        st.agentMs.push(g.agentMs);
        st.identityMs.push(g.identityMs);
        if (s.cpuMs != null) st.cpuSpawnMs.push(s.cpuMs);
        if (g.cpuMs != null) st.cpuReadyMs.push(g.cpuMs);
        vms.push(s.vm);
      }
      breakdown.stages = Object.fromEntries(Object.entries(st).map(([k, v]) => [k, sum(v)]));
      log('per-child stages (ms, median):', Object.fromEntries(Object.entries(breakdown.stages).map(([k, v]) => [k, v.median])));
      for (const vm of vms) await mf.destroy(vm);
    }
  });

  // ── 1b: fork of one child, fresh VMM and from a prelaunched slot
  await scenario('fork1', async () => {
    const runs = options.runs;
    // one prelaunched slot, topped up in the background after each fork (lib/engine/topup.ts) and
    // waited for between forks: every prelaunched run finds a ready slot
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-one'), slots: 1, prelaunch: true, memory: MEM }));
    log(`template ${tpl.name}: boot ${tpl.timings.bootMs} ms, freeze ${tpl.timings.freezeMs} ms`);
    const g = (await E.get(tpl.id)) as { timings?: { pauseMs?: number } };
    if (g.timings?.pauseMs != null) metric('freeze.enginePauseMs', 'Parent paused during freeze (engine prepare)', 'ms', [g.timings.pauseMs], {}, 2);
    for (const kind of ['prelaunched', 'fresh'] as const) {
      if (kind === 'prelaunched') delete process.env.INSTACLONE_SLOT_TOPUP;
      else {
        // no top-up; the last slot is used up by a fork that is not counted
        process.env.INSTACLONE_SLOT_TOPUP = '0';
        await E.settled();
        const drain = await E.fork(tpl.id, forkSchema.parse({ count: 1, prefix: 'drain' }));
        await removeAll(drain.children.map((c) => c.id));
      }
      const wall: number[] = [];
      const det: Record<string, number[]> = { spawnMs: [], loadMs: [], agentMs: [], identityMs: [], cpuMs: [], totalMs: [] };
      for (let i = 0; i < runs; i++) {
        await E.settled();
        const t0 = performance.now();
        const r = await E.fork(tpl.id, forkSchema.parse({ count: 1, prefix: `one-${kind}` }));
        wall.push(performance.now() - t0);
        const d = r.details?.[0];
        if (d) {
          if (d.source !== (kind === 'prelaunched' ? 'prelaunched' : 'fresh')) log(`note: child came from a ${d.source} VMM`);
          det.spawnMs.push(d.spawnMs);
          det.loadMs.push(d.loadMs);
          det.agentMs.push(d.agentMs);
          det.identityMs.push(d.identityMs);
          if (d.cpuMs != null) det.cpuMs.push(d.cpuMs);
        }
        det.totalMs.push(r.timings.perChildMs[0]);
        await removeAll(r.children.map((c) => c.id));
      }
      breakdown[kind === 'fresh' ? 'forkFresh' : 'forkPrelaunched'] = Object.fromEntries(Object.entries(det).map(([k, v]) => [k, sum(v)]));
      if (det.cpuMs.length) {
        metric(`fork1.${kind}.cpuMs`, `CPU time (user+sys) of the child's QEMU from fork to ready (${kind === 'fresh' ? 'fresh VMM, incl. its start' : 'prelaunched slot'})`, 'ms', det.cpuMs, {
          ...(kind === 'prelaunched' ? { target: T('<=', 160, '≤ 160 ms (half the 320 ms first measured)'), boundBy: 'TCG translates the guest code the child runs after cont (kernel resume, vmgenid reseed, the identity helper) afresh in every QEMU' } : {}),
          notes: ['/proc/PID/stat utime+stime, 10 ms ticks; on 2 cores this, not wall time, bounds children per second'],
        });
      }
      metric(`fork1.${kind}.readyMs`, `Fork of one child to agent-ready with verified identity (${kind === 'fresh' ? 'fresh VMM' : 'prelaunched slot'})`, 'ms', wall);
      log(`fork one (${kind}): median ${r1(summarize(wall).median)} ms, p95 ${r1(summarize(wall).p95)} ms; stages`, Object.fromEntries(Object.entries(det).map(([k, v]) => [k, r1(summarize(v).median)])));
    }
    await removeTpl(tpl.id);
  });

  // ── pools: claim latency at the REST API, a burst of claims against ready spares, refill rate
  await scenario('pools', async () => {
    const { poolBench } = await import('./pools');
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-pool'), memory: MEM }));
    const r = await poolBench(E, tpl.id, options.poolSpares, options.poolClaims, log);
    const REFILL_CONCURRENCY = (await import('../lib/engine/pools')).refillConcurrency();
    const bound = `wall time on ${machineFacts.cores} cores at load ${os.loadavg()[0].toFixed(1)} (other VMs, the refill's forks — ${REFILL_CONCURRENCY} at most — and ${r.spares} idle spares); the claim path's own CPU cost is measured by bench/experiments/claim-path.ts`;
    metric('pool.claim.restMs', 'Pool claim at the REST API (HTTP + token + engine), one at a time', 'ms', r.seqClaimMs, { target: T('<=', 10, '≤ 10 ms (p50)'), boundBy: bound }, 2);
    metric('pool.burst.totalMs', `Burst of ${r.burst.count} concurrent claims against ${r.spares} ready spares`, 'ms', [r.burst.totalMs], { notes: [`sources: ${JSON.stringify(r.burst.sources)}`] });
    metric('pool.burst.claimMs', 'Each claim of the burst (client side, queued behind the others)', 'ms', r.burst.claimMs, {}, 2);
    metric('pool.burst.engineClaimMs', 'Each claim of the burst (inside the engine: DB only)', 'ms', r.burst.engineClaimMs, {}, 2);
    metric('pool.refill.perSec', `Refill rate: ${r.spares} spares forked, identified and ready from an empty pool`, 'children/s', [r.refillPerSec], { notes: [`fill ${Math.round(r.fillMs)} ms`] }, 2);
    log(`claim at REST: p50 ${r1(summarize(r.seqClaimMs).median)} ms, p95 ${r1(summarize(r.seqClaimMs).p95)} ms; refill ${r.refillPerSec.toFixed(2)} spares/s`);
    await removeTpl(tpl.id);
  });

  // ── 5: reset, from the template's spare VMM (lib/engine/spare.ts) and from a fresh VMM
  // (INSTACLONE_RESET_SPARE=0), alternated in the same run
  await scenario('reset', async () => {
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-reset'), memory: MEM }));
    const r = await E.fork(tpl.id, forkSchema.parse({ count: 1, prefix: 'reset' }));
    const id = r.children[0].id;
    const wall: number[] = [];
    const fresh: number[] = [];
    const spawn: number[] = [];
    const load: number[] = [];
    let notFromSpare = 0;
    await E.reset(id); // the first reset makes the template its spare
    for (let i = 0; i < options.runs; i++) {
      await E.spareReady(tpl.id, 120_000);
      let t0 = performance.now();
      const x = (await E.reset(id)) as { fromSpare?: boolean };
      wall.push(performance.now() - t0);
      if (!x.fromSpare) notFromSpare++;
      process.env.INSTACLONE_RESET_SPARE = '0';
      try {
        t0 = performance.now();
        const y = (await E.reset(id)) as { timings?: { spawnMs?: number; loadMs?: number } };
        fresh.push(performance.now() - t0);
        if (y.timings?.spawnMs != null) spawn.push(y.timings.spawnMs);
        if (y.timings?.loadMs != null) load.push(y.timings.loadMs);
      } finally {
        delete process.env.INSTACLONE_RESET_SPARE;
      }
    }
    const s = summarize(wall);
    const f = summarize(fresh);
    const agentIdentity = f.median != null ? f.median - (summarize(spawn).median ?? 0) - (summarize(load).median ?? 0) : null;
    metric('reset.ms', 'Reset a non-persistent child to the template state (spare VMM; to ready, identity verified)', 'ms', wall, {
      target: T('<=', 100, '≤ 100 ms'),
      boundBy: `median: forwards + identity answer + bookkeeping of the swapped-in spare (the QEMU start ${r1(summarize(spawn).median)} ms and checkpoint load ${r1(summarize(load).median)} ms are off the path); identity is guest work under TCG at load ${os.loadavg()[0].toFixed(1)}`,
      notes: [`${notFromSpare} of ${wall.length} resets found no ready spare`],
    });
    metric('reset.freshMs', 'Reset from a fresh VMM (no spare: QEMU start + checkpoint load + identity)', 'ms', fresh);
    breakdown.reset = { totalMs: sum(wall), freshMs: sum(fresh), spawnMs: sum(spawn), loadMs: sum(load), agentIdentityMs: sum(agentIdentity == null ? [] : [agentIdentity]) };
    log(`reset: from the spare median ${r1(s.median)} ms (p95 ${r1(s.p95)}); fresh VMM median ${r1(f.median)} ms (spawn ${r1(summarize(spawn).median)}, load ${r1(summarize(load).median)} ms); ratio ${ratio(f.median, s.median)}×`);
    await removeAll([id]);
    await removeTpl(tpl.id);
  });

  // ── live fork (issue 13): a running child forked while it carries on; its pause as the engine sees
  // it and as a 10 ms ticker in the guest lives it, beside the freeze pause; memory afterwards
  await scenario('liveFork', async () => {
    const { listenTicks, maxGap, TICKER_CMD } = await import('./lib/ticker');
    const { procMemory } = await import('../lib/engine/metrics');
    const { resetQemuUserCache } = await import('../lib/engine/argv');
    // QEMU 7.2 opens userfaultfd itself: as the unprivileged QEMU user (vm.unprivileged_userfaultfd=0)
    // background-snapshot is refused, so the fast path is measured with QEMU left as root; the
    // configured user's path is the stop-and-copy row
    const savedUser = process.env.INSTACLONE_QEMU_USER;
    const asRoot = process.getuid?.() === 0;
    if (asRoot) process.env.INSTACLONE_QEMU_USER = '';
    resetQemuUserCache();
    try {
      const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-live'), memory: MEM }));
      const src = (await E.fork(tpl.id, forkSchema.parse({ count: 1, prefix: name('live') }))).children[0];
      const row = (await E.list()).vms.find((v) => v.id === src.id)!;
      const runDir = (await import('../lib/engine/paths')).paths.vmRunDir(src.id);
      const ticks = listenTicks(`${runDir}/serial.sock`);
      await E.exec(src.id, execSchema.parse({ command: ['/bin/sh', '-c', TICKER_CMD], timeoutMs: 20_000 }));
      await sleep(1000);
      const runs = Math.min(options.runs, 5);
      const res: Record<string, { pause: number[]; qemu: number[]; gap: number[]; base: number[]; snap: number[]; methods: string[] }> = {};
      let memAfter: Record<string, unknown> | null = null;
      for (const quiesce of [true, false]) {
        const k = quiesce ? 'quiesced' : 'unquiesced';
        const acc = (res[k] = { pause: [] as number[], qemu: [] as number[], gap: [] as number[], base: [] as number[], snap: [] as number[], methods: [] as string[] });
        for (let i = 0; i < (quiesce ? runs : Math.min(runs, 3)); i++) {
          const win: Record<string, number> = {};
          const onProgress = (p: { message?: string }) => {
            if (/while it runs|pausing/.test(p.message ?? '')) win.snap = performance.now();
            if (/checkpoint/.test(p.message ?? '')) win.ckpt = performance.now();
          };
          const t0 = performance.now();
          const r = (await E.fork(src.id, liveForkSchema.parse({ count: 1, quiesce, prefix: `lf${i}` }), { onProgress })) as import('../lib/engine').LiveForkResult;
          acc.pause.push(r.pause.pauseMs);
          if (r.pause.qemuDowntimeMs != null) acc.qemu.push(r.pause.qemuDowntimeMs);
          acc.gap.push(maxGap(ticks.stamps, win.snap, win.ckpt + 50));
          acc.base.push(maxGap(ticks.stamps, t0 - 1000, t0));
          acc.snap.push(r.snapshotMs);
          acc.methods.push(r.pause.method + (r.pause.reason ? ` (${r.pause.reason})` : ''));
          if (quiesce && i === runs - 1) {
            await sleep(1000);
            const childPid = (await E.list()).vms.find((v) => v.id === r.children[0].id)?.pid;
            memAfter = { source: row.pid ? procMemory(row.pid) : null, child: childPid ? procMemory(childPid) : null };
          }
          await removeTpl(r.template.id);
          await sleep(1000);
        }
        log(`live fork (${k}): pause median ${r1(summarize(acc.pause).median)} ms (QEMU downtime ${r1(summarize(acc.qemu).median)}), guest max tick gap ${r1(summarize(acc.gap).median)} ms (baseline ${r1(summarize(acc.base).median)}), snapshot ${r1(summarize(acc.snap).median)} ms; ${[...new Set(acc.methods)].join(', ')}`);
      }
      ticks.close();
      const q = res.quiesced;
      const u = res.unquiesced;
      metric('liveFork.pauseMs', 'Live fork: source paused, engine view (STOP → RESUME), quiesced', 'ms', q.pause, { notes: [`method: ${[...new Set(q.methods)].join(', ')}`, `QEMU downtime median ${r1(summarize(q.qemu).median)} ms`] }, 2);
      metric('liveFork.guestGapMs', 'Live fork: longest gap a 10 ms guest ticker shows during the snapshot, quiesced', 'ms', q.gap, { notes: [`baseline (1 s before) median ${r1(summarize(q.base).median)} ms: the ticker's own jitter on this host`] });
      metric('liveFork.stopCopy.pauseMs', 'Live fork: source paused, engine view, without quiesce (stop-and-copy of the RAM)', 'ms', u.pause, {}, 2);
      metric('liveFork.stopCopy.guestGapMs', 'Live fork: longest gap of the guest ticker, without quiesce', 'ms', u.gap);
      metric('liveFork.snapshotMs', 'Live fork: template made from the running source (quiesce, disk, RAM, checkpoint)', 'ms', q.snap);
      const mem = memAfter as { source: { pssKiB: number; privateKiB: number; sharedKiB: number } | null; child: { pssKiB: number; privateKiB: number; sharedKiB: number } | null } | null;
      if (mem?.source && mem.child) {
        metric('liveFork.sourcePrivateMiB', 'Live fork: source private memory after (smaps_rollup)', 'MiB', [mem.source.privateKiB / 1024], { notes: [`source PSS ${r1(mem.source.pssKiB / 1024)} MiB, shared ${r1(mem.source.sharedKiB / 1024)} MiB`] });
        metric('liveFork.childSharedMiB', 'Live fork: a new child\'s shared memory after (smaps_rollup)', 'MiB', [mem.child.sharedKiB / 1024], { notes: [`child PSS ${r1(mem.child.pssKiB / 1024)} MiB, private ${r1(mem.child.privateKiB / 1024)} MiB`] });
      }
      breakdown.liveFork = Object.fromEntries(Object.entries({ qPause: q.pause, qQemu: q.qemu, qGap: q.gap, qBase: q.base, uPause: u.pause, uGap: u.gap }).map(([kk, v]) => [kk, sum(v)]));
      await removeAll([src.id]);
      await removeTpl(tpl.id);
    } finally {
      if (savedUser === undefined) delete process.env.INSTACLONE_QEMU_USER;
      else process.env.INSTACLONE_QEMU_USER = savedUser;
      resetQemuUserCache();
    }
  });

  // ── 2 + 3 + 4a: throughput; memory and idle CPU on the largest fresh group
  await scenario('throughput', async () => {
    const sizes = [...options.sizes].sort((a, b) => a - b);
    const largest = sizes[sizes.length - 1];
    const base = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-tp'), memory: MEM }));
    const baseInfo = (await E.get(base.id)) as { files?: { ram?: string } };
    for (const prelaunched of [false, true]) {
      for (const n of sizes) {
        let tplId = base.id;
        if (prelaunched) {
          const t0 = performance.now();
          const t = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-tpp'), slots: n, prelaunch: true, memory: MEM }));
          tplId = t.id;
          log(`prepared ${t.name} with ${n} prelaunched slots in ${Math.round(performance.now() - t0)} ms`);
        }
        const t0 = performance.now();
        const r = await E.fork(tplId, forkSchema.parse({ count: n, prefix: prelaunched ? 'tpp' : 'tp' }));
        const totalMs = performance.now() - t0;
        const det = r.details ?? [];
        const st = Object.fromEntries(
          (['spawnMs', 'loadMs', 'agentMs', 'identityMs', 'cpuMs'] as const).map((k) => [k, sum(det.map((d) => d[k]).filter((x): x is number => x != null))]),
        );
        const row = {
          count: n, prelaunched, totalMs: r1(totalMs), childrenPerSec: round(n / (totalMs / 1000), 2),
          perChildMs: sum(r.timings.perChildMs), stages: st,
          sources: det.reduce<Record<string, number>>((a, d) => ((a[d.source] = (a[d.source] ?? 0) + 1), a), {}),
        };
        throughput.push(row);
        const kind = prelaunched ? 'prelaunched' : 'fresh';
        metric(`throughput.${kind}.${n}.totalMs`, `${n} children ${prelaunched ? 'from prelaunched slots' : 'with fresh VMMs'}: all agent-ready with verified identity`, 'ms', [totalMs], {
          notes: [`${row.childrenPerSec} children/s; per child median ${row.perChildMs.median} ms; stages median spawn ${st.spawnMs.median}, load ${st.loadMs.median}, agent ${st.agentMs.median}, identity ${st.identityMs.median} ms; CPU per child median ${st.cpuMs.median} ms; ${FORK_CONCURRENCY} at a time`],
        });
        log(`${n} children (${kind}): ${Math.round(totalMs)} ms, ${row.childrenPerSec} children/s; stage medians spawn ${st.spawnMs.median} load ${st.loadMs.median} agent ${st.agentMs.median} identity ${st.identityMs.median} ms`);

        const ids = r.children.map((c) => c.id);
        if (!prelaunched && n === largest && !skip.has('memory')) {
          await sleep(3000); // let them settle to idle
          const pids = await pidsOf(ids);
          const ramFile = baseInfo.files?.ram ?? '';
          const pss: number[] = [], pd: number[] = [], anon: number[] = [], shared: number[] = [];
          for (const pid of pids) {
            const m = smapsRollup(pid);
            if (!m) continue;
            pss.push(m.pss / 1024);
            pd.push(m.privateDirty / 1024);
            anon.push(m.anonymous / 1024);
            const ram = ramFile ? smapsMapping(pid, ramFile) : null;
            if (ram && ram.rss > 0) shared.push((100 * (ram.rss - ram.privateDirty - ram.privateClean)) / ram.rss);
          }
          const cpu = await cpuPercentOver(pids, options.idleSeconds * 1000);
          const cpuS = [...cpu.values()];
          const totalPss = pss.reduce((a, b) => a + b, 0);
          const cold = coldPss as { pssMiB: number; overheadMiB: number } | null;
          const perFull = cold ? MEM + cold.overheadMiB : null;
          const full = perFull != null ? perFull * pids.length : null;
          memory = {
            children: pids.length,
            guestRamMiB: MEM,
            perChild: { pssMiB: sum(pss), privateDirtyMiB: sum(pd), anonMiB: sum(anon), sharedPct: sum(shared) },
            totalPssMiB: r1(totalPss),
            fullCopyPerVmMiB: r1(perFull),
            fullCopyMiB: r1(full),
            coldVm: coldPss,
            measuredColdTotalMiB: cold ? r1(cold.pssMiB * pids.length) : null,
            savedPct: full ? r1(100 * (1 - totalPss / full)) : null,
          };
          const tcgNote = accel === 'tcg' ? ` Under TCG each QEMU also holds its translation cache (tb-size ${machine.tbSizeMiB} MiB, anonymous).` : '';
          metric('memory.pssPerChildMiB', 'PSS per idle child', 'MiB', pss, {
            target: T('<=', 16, '≤ 16 MiB'),
            boundBy: `median private dirty ${r1(summarize(pd).median)} MiB of which anonymous ${r1(summarize(anon).median)} MiB (QEMU heap, TCG code buffer, guest pages the child wrote); ${cold?.overheadMiB != null ? `cold VM QEMU overhead alone ${r1(cold.overheadMiB)} MiB.` : ''}${tcgNote}`,
          });
          metric('memory.privateDirtyPerChildMiB', 'Private dirty per idle child', 'MiB', pd);
          metric('memory.sharedPct', "Share of a child's resident guest RAM still shared with the template", '%', shared);
          metric('memory.totalPssMiB', `Total PSS of ${pids.length} idle children`, 'MiB', [], { value: totalPss });
          if (full != null) metric('memory.fullCopyMiB', `${pids.length} full copies (${pids.length} × (guest RAM ${MEM} MiB + QEMU overhead ${r1(cold!.overheadMiB)} MiB))`, 'MiB', [], { value: full });
          metric('idle.cpuPerChildPct', `CPU per idle child over ${options.idleSeconds} s`, '%core', cpuS, {
            target: T('<=', 0.5, '≤ 0.5 % of a core'),
            boundBy: `a cold-booted idle VM costs ${round(coldPss?.cpuPct, 2)} % of a core: the guest's timer ticks run through ${accel === 'tcg' ? 'TCG (emulated APIC/PIT, each tick exits the translated code)' : 'KVM'}`,
          }, 2);
          log(`memory: PSS/child median ${r1(summarize(pss).median)} MiB, private dirty ${r1(summarize(pd).median)} MiB, shared ${r1(summarize(shared).median)} %, total ${Math.round(totalPss)} MiB vs ${r1(full)} MiB full copies; idle CPU/child median ${round(summarize(cpuS).median, 2)} %`);
        }
        await removeAll(ids);
        if (prelaunched) await removeTpl(tplId);
      }
    }
    const pre = throughput.filter((t) => t.prelaunched && t.count === largest)[0] as { totalMs: number } | undefined;
    if (pre) {
      metric('throughput.prelaunched.max.totalMs', `${largest} prelaunched children ready`, 'ms', [pre.totalMs], {
        target: largest >= 100 ? T('<=', 5000, '≤ 5 s (100 children)') : T('<=', (5000 * largest) / 100, `≤ ${(5 * largest) / 100} s (scaled from 100 in 5 s)`),
        boundBy: (() => {
          // CPU, not wall time, is the floor on 2 cores: each child's QEMU spends it translating and
          // running the guest's resume and identity work
          const row = throughput.find((t) => t.prelaunched && t.count === largest) as { stages?: { cpuMs?: Summary } } | undefined;
          const cpu = row?.stages?.cpuMs?.median ?? breakdown.forkPrelaunched?.cpuMs?.median ?? null;
          const cores = os.cpus().length;
          return cpu != null ? `CPU per child median ${cpu} ms (user+sys of its QEMU, fork → ready): ${largest} × ${cpu} ms / ${cores} cores ≈ ${r1((largest * cpu) / cores / 1000)} s at best, on cores shared at load ${os.loadavg()[0].toFixed(1)}` : '';
        })(),
      });
    }
    await removeTpl(base.id);
  });

  // ── 4a: PSS per idle child with KSM (INSTACLONE_KSM=on), beside the plain figure (bench/scenarios/ksm.ts)
  await scenario('ksm', async () => {
    const { ksmIdle } = await import('./scenarios/ksm');
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-ksm'), memory: MEM }));
    try {
      const k = await ksmIdle(E, tpl.id, options.ksmChildren);
      const off = summarize(k.pssOffMiB).median;
      const set = `pages_to_scan ${k.settings.pages_to_scan}, sleep_millisecs ${k.settings.sleep_millisecs}${k.settings.advisor_mode ? `, advisor ${k.settings.advisor_mode}` : ''}`;
      const cpu = `ksmd CPU ${Math.round(k.ksmdCpuMsPerChild)} ms per child merged, then ${round(k.ksmdSteadyPct, 2)} % of a core at steady state (${set}; ${k.mergeableProcesses} mergeable processes on the host)`;
      metric('memory.ksm.pssPerChildMiB', `PSS per idle child with KSM (${k.children} children, whole QEMU mergeable)`, 'MiB', k.pssOnMiB, {
        target: T('<=', 16, '≤ 16 MiB'),
        boundBy: `the same children before merging: ${r1(off)} MiB; KSM merged ${r1(k.mergedMiBPerChild)} MiB per child (the rest of the drop: its first pass splits QEMU's transparent huge pages, whose empty parts are freed); what stays holds unique content: TCG code, heap and guest pages each child wrote differently. ${cpu}`,
        notes: [`${k.settled ? 'settled' : 'NOT settled'} after ${r1(k.settleS)} s (${k.fullScans} full scans); ${cpu}`],
      });
      metric('memory.ksm.pssOffPerChildMiB', 'PSS per idle child, the same children before KSM merged them', 'MiB', k.pssOffMiB);
      metric('memory.ksm.ksmdCpuMsPerChild', 'ksmd CPU per child merged (start to settled)', 'ms', [k.ksmdCpuMsPerChild]);
      metric('memory.ksm.ksmdSteadyPct', "ksmd CPU at steady state after merging (host's scan settings)", '%core', [k.ksmdSteadyPct], {}, 2);
      log(`KSM: PSS/child ${r1(off)} → ${r1(summarize(k.pssOnMiB).median)} MiB, merged ${r1(k.mergedMiBPerChild)} MiB/child; ${cpu}; settled ${k.settled} in ${r1(k.settleS)} s`);
    } finally {
      await removeTpl(tpl.id);
    }
  });

  // ── 4b: ramp: how many idle children while the console stays responsive
  await scenario('ramp', async () => {
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: name('bench-ramp'), memory: MEM }));
    const steps: Record<string, unknown>[] = [];
    const ids: string[] = [];
    const deadline = Date.now() + options.rampMinutes * 60_000;
    let maxOk = 0;
    let stopReason = `reached the cap of ${options.cap}`;
    const probe = async () => {
      const l: number[] = [], h: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await E.list();
        l.push(performance.now() - t0);
        h.push(await httpGet());
        await sleep(200);
      }
      return { listMs: Math.max(...l), httpMs: Math.max(...h) };
    };
    while (ids.length < options.cap) {
      if (Date.now() > deadline) {
        stopReason = `time budget of ${options.rampMinutes} min used`;
        break;
      }
      if (memAvailableMiB() < 2048) {
        stopReason = `host MemAvailable below 2 GiB (${Math.round(memAvailableMiB())} MiB)`;
        break;
      }
      const n = Math.min(options.step, options.cap - ids.length);
      const t0 = performance.now();
      try {
        const r = await E.fork(tpl.id, forkSchema.parse({ count: n, prefix: 'ramp' }));
        ids.push(...r.children.map((c) => c.id));
      } catch (e) {
        stopReason = `fork of ${n} more failed at ${ids.length}: ${(e as Error).message}`;
        break;
      }
      const forkMs = performance.now() - t0;
      await sleep(2000);
      const c0 = hostCpu();
      const p = await probe();
      const c1 = hostCpu();
      const pids = await pidsOf(ids);
      const totalPss = pids.reduce((a, pid) => a + (smapsRollup(pid)?.pss ?? 0), 0) / 1024;
      const ok = p.listMs < options.responsiveMs && p.httpMs < options.responsiveMs;
      const row = {
        children: ids.length, forkMs: r1(forkMs), listMs: r1(p.listMs), httpMs: r1(p.httpMs), ok,
        hostCpuPct: r1((100 * (c1.busy - c0.busy)) / Math.max(c1.total - c0.total, 1e-9)),
        memAvailableMiB: Math.round(memAvailableMiB()), totalPssMiB: Math.round(totalPss),
      };
      steps.push(row);
      log(`${row.children} children: fork ${Math.round(forkMs)} ms, list ${row.listMs} ms, http ${row.httpMs} ms, host CPU ${row.hostCpuPct} %, PSS ${row.totalPssMiB} MiB, MemAvailable ${row.memAvailableMiB} MiB ${ok ? '' : '← not responsive'}`);
      if (!ok) {
        stopReason = `not responsive at ${ids.length} children (list ${row.listMs} ms, http ${row.httpMs} ms)`;
        break;
      }
      maxOk = ids.length;
    }
    ramp = {
      definition: `responsive = the engine's list() and an HTTP GET to a local server in the same process both answer in < ${options.responsiveMs} ms (worst of 3 probes, 2 s after each step of ${options.step} forks); stops at the first miss, a failed fork, MemAvailable < 2 GiB, the cap or the time budget`,
      steps, maxResponsive: maxOk, stopReason,
    };
    const last = steps[steps.length - 1] as { hostCpuPct?: number } | undefined;
    metric('ramp.maxChildren', 'Live idle children while the console stays responsive', 'children', [], {
      value: maxOk,
      target: T('>=', 200, '≥ 200'),
      boundBy: `${stopReason}${last ? `; host CPU at the last step ${last.hostCpuPct} % of ${os.cpus().length} cores` : ''}`,
    }, 0);
    log(`ramp: ${maxOk} children (${stopReason}); removing them`);
    await removeAll(ids);
    await removeTpl(tpl.id);
  });

  // ── the console's own API under load, and the CLI's whole-process time (bench/scenarios/api.ts)
  let api: Record<string, unknown> | null = null;
  await scenario('api', async () => {
    const { apiLoad } = await import('./scenarios/api');
    const a = await apiLoad({ children: Number(opt('api-children') ?? 10), connections: 50, seconds: quick ? 5 : 10, log });
    api = { ...a };
    const nodeMs = summarize(a.nodeStartMs).median;
    const cores = os.cpus().length;
    const perReq = a.ls.serverCpuMsPerRequest + a.ls.loadgenCpuMsPerRequest;
    const bound = (cores * 1000) / perReq; // req/s if the console and the load generator had every core
    const floorNote = `Next.js's own floor (anonymous /api/health, all but an empty route): ${round(a.floor.serverCpuMsPerRequest, 2)} ms of CPU per request`;
    metric('api.ls.requestsPerSec', `GET /api/v1/ls with a token, ${a.connections} connections, ${a.children} children running`, 'req/s', [], {
      value: a.requestsPerSec,
      target: T('>=', 1000, '≥ 1000/s'),
      boundBy: `CPU: the console spends ${round(a.ls.serverCpuMsPerRequest, 2)} ms per request and the load generator ${round(a.ls.loadgenCpuMsPerRequest, 2)} ms on the same ${cores} cores, so at most ${Math.round(bound)} req/s here even with the cores to themselves; ${floorNote}, so Next's per-request work, not our route (token and list from caches, body serialised once per change), is most of it`,
      notes: [`non-2xx ${a.non2xx}, errors ${a.errors}`, `p50 ${a.latencyP50Ms} ms`, `revalidated with its ETag (304, no body): ${Math.round(a.ls304.requestsPerSec)} req/s, ${round(a.ls304.serverCpuMsPerRequest, 2)} ms CPU per request`],
    }, 0);
    metric('api.ls.p99Ms', `GET /api/v1/ls p99 latency (${a.connections} connections)`, 'ms', [], {
      value: a.latencyP99Ms,
      target: T('<=', 100, '≤ 100 ms'),
      boundBy: `queueing behind the CPU bound above: ${a.connections} connections × ${round(perReq, 2)} ms of CPU per request ÷ ${cores} cores, on a host whose other work takes its share`,
      notes: [`p50 ${a.latencyP50Ms} ms, max ${a.latencyMaxMs} ms`],
    });
    metric('api.ls.cpuMsPerRequest', 'Console CPU time per GET /api/v1/ls (user+sys, idle rate taken off)', 'ms', [], {
      value: a.ls.serverCpuMsPerRequest,
      target: T('<=', (cores * 1000) / 1000 / 2, `≤ ${(cores / 2).toFixed(1)} ms (1000/s on ${cores} cores, half of them left for the rest)`),
      boundBy: floorNote,
      notes: [`console idle with its children: ${round(a.serverIdleCpuMsPerSec, 1)} ms of CPU per second`, `load generator: ${round(a.ls.loadgenCpuMsPerRequest, 2)} ms per request`],
    }, 2);
    metric('api.ls304.cpuMsPerRequest', 'Console CPU time per GET /api/v1/ls revalidated with If-None-Match (304)', 'ms', [], { value: a.ls304.serverCpuMsPerRequest, notes: [`${Math.round(a.ls304.requestsPerSec)} req/s, p99 ${a.ls304.latencyP99Ms} ms, non-304 ${a.ls304.requests - a.ls304.non2xx}`] }, 2);
    metric('api.floor.cpuMsPerRequest', "Next.js's per-request floor: console CPU per anonymous GET /api/health (no authentication, cached answer)", 'ms', [], { value: a.floor.serverCpuMsPerRequest, notes: [`${Math.round(a.floor.requestsPerSec)} req/s, p99 ${a.floor.latencyP99Ms} ms`] }, 2);
    const noCaMs = a.nodeStartNoCaMs.length ? summarize(a.nodeStartNoCaMs).median : null;
    metric('cli.lsMs', '`instaclone ls` wall time (whole process, bundled CLI from its start-up snapshot)', 'ms', a.cliLsMs, {
      target: T('<=', 100, '≤ 100 ms'),
      boundBy: `a bare \`node -e 0\` takes ${r1(nodeMs)} ms here at the same moment${noCaMs !== null ? ` (${r1(noCaMs)} ms without NODE_EXTRA_CA_CERTS, as the CLI starts it for an http console)` : ''}; Node's own start is the floor`,
      notes: [`CPU per call: instaclone ls ${r1(summarize(a.cliLsCpuMs).median)} ms, node -e 0 ${r1(summarize(a.nodeStartCpuMs).median)} ms`],
    });
    metric('cli.nodeStartMs', '`node -e 0` wall time (same moment; the floor for any Node CLI)', 'ms', a.nodeStartMs);
    if (noCaMs !== null) metric('cli.nodeStartNoCaMs', '`node -e 0` without NODE_EXTRA_CA_CERTS (same moment)', 'ms', a.nodeStartNoCaMs);
    metric('cli.lsCpuMs', '`instaclone ls` CPU time (user+sys, whole process)', 'ms', a.cliLsCpuMs, { notes: [`node -e 0: ${r1(summarize(a.nodeStartCpuMs).median)} ms`] });
    log(`API: ${Math.round(a.requestsPerSec)} req/s, p50 ${a.latencyP50Ms} ms, p99 ${a.latencyP99Ms} ms; CPU per request ${round(a.ls.serverCpuMsPerRequest, 2)} ms (304: ${round(a.ls304.serverCpuMsPerRequest, 2)}, Next floor ${round(a.floor.serverCpuMsPerRequest, 2)}, load generator ${round(a.ls.loadgenCpuMsPerRequest, 2)}); instaclone ls ${r1(summarize(a.cliLsMs).median)} ms (node -e 0: ${r1(nodeMs)} ms${noCaMs !== null ? `, without NODE_EXTRA_CA_CERTS ${r1(noCaMs)} ms` : ''})`);
  });

  // ── QEMU side by side: the system QEMU vs another (default /opt/qemu10, see scripts/qemu10.sh), same guest, one run
  let qemuCompare: Awaited<ReturnType<typeof import('./qemu/compare').compareQemus>> | null = null;
  await scenario('qemu', async () => {
    const alt = opt('compare-qemu') ?? process.env.INSTACLONE_QEMU_COMPARE ?? '/opt/qemu10/usr/bin/qemu-system-x86_64';
    if (!fs.existsSync(alt)) {
      log(`no second QEMU at ${alt} (scripts/qemu10.sh installs one; --compare-qemu PATH): skipped`);
      return;
    }
    const { compareQemus } = await import('./qemu/compare');
    const rounds = Number(opt('qemu-rounds') ?? (quick ? 1 : 2));
    const children = Number(opt('qemu-children') ?? (quick ? 10 : 50));
    qemuCompare = await compareQemus([process.env.INSTACLONE_QEMU || 'qemu-system-x86_64', alt], { rounds, children, log });
    for (const e of qemuCompare.errors) errors.push({ scenario: 'qemu', message: e });
    const [a, b] = qemuCompare.runs;
    log(`QEMU ${b.version} ÷ QEMU ${a.version} (medians of ${rounds} round(s)):`, qemuCompare.ratio);
  });

  // ── many hosts (issue 16): dispatch overhead through the console to an agent vs the agent's own
  //    fork, and replication throughput between two agents; its own process (needs PostgreSQL)
  await scenario('hosts', async () => {
    const { execFileSync: run } = await import('node:child_process');
    const n = quick ? 3 : 5;
    const out = run(process.execPath, ['--import', path.join(here, '../node_modules/tsx/dist/esm/index.mjs'), path.join(here, 'scenarios/hosts.ts'), String(n)], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    metric('hosts.dispatch.overheadMs', 'Fork of one through the console to an agent: time added to the fork (placement, HTTP, idempotency record)', 'ms', r.dispatch.overheadMs);
    metric('hosts.dispatch.wallMs', 'Fork of one through the console to an agent (wall)', 'ms', r.dispatch.wallMs);
    metric('hosts.dispatch.engineMs', 'The same forks inside the agent\'s engine (what a single-host fork costs)', 'ms', r.dispatch.engineMs);
    metric('hosts.dispatch.ratio', 'Fork through the console ÷ the same fork in the engine (same runs)', 'x', [], { value: ratio(summarize(r.dispatch.wallMs).median, summarize(r.dispatch.engineMs).median) }, 2);
    metric('hosts.replication.mibPerS', `Template replication between two agents on this machine (${(r.replication.bytes / 2 ** 20).toFixed(0)} MiB, sha256 verified, through the job queue)`, 'MiB/s', [r.replication.mibPerS], {}, 1);
    log(`dispatch overhead p50 ${r1(summarize(r.dispatch.overheadMs).median)} ms; replication ${r.replication.mibPerS.toFixed(1)} MiB/s`);
  });

  // ── imported: an operator's own disk (issue 14): a systemd Debian booted through SeaBIOS, its cold
  //    boot to an answering agent beside a fork of one child (and of 10 in a full run), same run
  await scenario('imported', async () => {
    if (process.getuid?.() !== 0) throw new Error('the foreign test disk is built as root (debootstrap); run the benchmark as root or --skip imported');
    const { foreignDisks } = await import('../tests/fixtures/foreign/disks');
    const disk = foreignDisks('networkd').networkd;
    await E.importImage(importImageSchema.parse({ name: 'bench-netd', disk }));
    // a systemd boot under TCG on a loaded 2-core host can pass the default 300 s (seen at load 22)
    const tpl = await E.prepare(prepareSchema.parse({ image: 'bench-netd', name: name('bench-imp'), memory: 512, bootTimeout: 1200 }));
    log(`imported systemd disk: cold boot to agent ${Math.round(tpl.timings.bootMs)} ms`);
    metric('imported.coldBoot.readyMs', 'Imported systemd disk: cold boot (SeaBIOS → agent)', 'ms', [tpl.timings.bootMs], {}, 0);
    const one: number[] = [];
    const ident: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const t0 = performance.now();
      const r = await E.fork(tpl.id, forkSchema.parse({ count: 1, prefix: name('imp') }));
      one.push(performance.now() - t0);
      ident.push(r.details?.[0]?.identityMs ?? NaN);
      await removeAll(r.children.map((c) => c.id));
    }
    metric('imported.fork1.readyMs', 'Imported systemd disk: fork of one child, identity verified through the stock agent', 'ms', one, {}, 0);
    metric('imported.fork1.identityMs', 'Imported systemd disk: identity apply + read-back per child', 'ms', ident, {}, 0);
    metric('imported.fork1.speedup', 'Imported disk: cold boot ÷ fork of one child', 'x', [], {
      value: ratio(tpl.timings.bootMs, summarize(one).median),
      target: T('>=', 100, '≥ 100×'),
      boundBy: `identity through the stock agent costs ${Math.round(summarize(ident).median ?? 0)} ms per child: one /bin/sh in the guest runs ip, date and the lease renewal, each a process start translated afresh by TCG in a new child, and setting the clock wakes the guest's timers`,
    });
    log(`imported: fork of one ${Math.round(summarize(one).median ?? 0)} ms (identity ${Math.round(summarize(ident).median ?? 0)} ms) → ${r1(ratio(tpl.timings.bootMs, summarize(one).median))}×`);
    if (!quick) {
      const t0 = performance.now();
      const r = await E.fork(tpl.id, forkSchema.parse({ count: 10, prefix: name('imp10') }));
      const ms = performance.now() - t0;
      metric('imported.fork10.totalMs', 'Imported systemd disk: fork of 10 children', 'ms', [ms], {}, 0);
      log(`imported: fork of 10 in ${Math.round(ms)} ms`);
      await removeAll(r.children.map((c) => c.id));
    }
    await removeTpl(tpl.id);
    await E.removeImage('bench-netd').catch(() => undefined);
  });

  // ── derived: speedup
  const cold = metrics['coldBoot.readyMs']?.median ?? null;
  const pre1 = metrics['fork1.prelaunched.readyMs'];
  const fresh1 = metrics['fork1.fresh.readyMs'];
  if (cold != null && pre1) {
    const b = breakdown.forkPrelaunched;
    metric('fork1.speedup', 'Cold boot ÷ fork of one child (prelaunched slot), medians', 'x', [], {
      value: ratio(cold, pre1.median),
      target: T('>=', 50, '≥ 50×'),
      boundBy: b ? `a child needs median load ${b.loadMs.median} + identity answer ${b.identityMs.median} ms (guest work after cont, CPU ${b.cpuMs?.median} ms translated afresh by TCG) plus the engine's bookkeeping; 50× of a ${Math.round(cold)} ms cold boot means ≤ ${Math.round(cold / 50)} ms` : undefined,
      notes: [`p95 ratio (cold p95 / fork p95): ${r1(ratio(metrics['coldBoot.readyMs'].p95, pre1.p95))}×`],
    });
  }
  if (cold != null && fresh1) {
    metric('fork1.speedupFresh', 'Cold boot ÷ fork of one child (fresh VMM), medians', 'x', [], { value: ratio(cold, fresh1.median) });
  }
  // stage and rows for freeze: when the engine figure exists, keep both
  const finishedAt = new Date();
  machineFacts.loadavgEnd = os.loadavg().map((x) => round(x, 2));
  // verify what really ran (argv of a QEMU we started is gone now; the engine's choice is the accel)
  void processCmdline;
  void accelOf;

  const rows: { id: string }[] = [
    { id: 'coldBoot.readyMs' }, { id: 'fork1.prelaunched.readyMs' }, { id: 'fork1.fresh.readyMs' }, { id: 'fork1.speedup' }, { id: 'fork1.speedupFresh' }, { id: 'fork1.prelaunched.cpuMs' }, { id: 'fork1.fresh.cpuMs' },
    ...options.sizes.flatMap((n) => [{ id: `throughput.fresh.${n}.totalMs` }, { id: `throughput.prelaunched.${n}.totalMs` }]),
    { id: 'throughput.prelaunched.max.totalMs' },
    { id: 'memory.pssPerChildMiB' }, { id: 'memory.ksm.pssPerChildMiB' }, { id: 'memory.ksm.pssOffPerChildMiB' }, { id: 'memory.ksm.ksmdCpuMsPerChild' }, { id: 'memory.ksm.ksmdSteadyPct' }, { id: 'memory.privateDirtyPerChildMiB' }, { id: 'memory.sharedPct' }, { id: 'memory.totalPssMiB' }, { id: 'memory.fullCopyMiB' },
    { id: 'idle.cpuPerChildPct' }, { id: 'idle.coldVmCpuPct' }, { id: 'ramp.maxChildren' }, { id: 'reset.ms' }, { id: 'reset.freshMs' }, { id: 'freeze.pauseMs' }, { id: 'freeze.enginePauseMs' },
    { id: 'liveFork.pauseMs' }, { id: 'liveFork.guestGapMs' }, { id: 'liveFork.stopCopy.pauseMs' }, { id: 'liveFork.stopCopy.guestGapMs' }, { id: 'liveFork.snapshotMs' }, { id: 'liveFork.sourcePrivateMiB' }, { id: 'liveFork.childSharedMiB' },
    { id: 'imported.coldBoot.readyMs' }, { id: 'imported.fork1.readyMs' }, { id: 'imported.fork1.identityMs' }, { id: 'imported.fork1.speedup' }, { id: 'imported.fork10.totalMs' },
    { id: 'pool.claim.restMs' }, { id: 'pool.burst.totalMs' }, { id: 'pool.burst.claimMs' }, { id: 'pool.burst.engineClaimMs' }, { id: 'pool.refill.perSec' },
    { id: 'api.ls.requestsPerSec' }, { id: 'api.ls.p99Ms' }, { id: 'api.ls.cpuMsPerRequest' }, { id: 'api.floor.cpuMsPerRequest' }, { id: 'cli.lsMs' }, { id: 'cli.nodeStartMs' },
    { id: 'hosts.dispatch.overheadMs' }, { id: 'hosts.dispatch.wallMs' }, { id: 'hosts.dispatch.engineMs' }, { id: 'hosts.dispatch.ratio' }, { id: 'hosts.replication.mibPerS' },
  ];
  const targets = rows
    .filter((r) => metrics[r.id]?.target)
    .map((r) => {
      const m = metrics[r.id];
      return { id: r.id, label: m.label, value: m.value, unit: m.unit, target: m.target!.value, op: m.target!.op, pass: m.pass ?? null, boundBy: m.pass ? null : m.boundBy ?? null };
    });

  const recommendations = buildRecommendations(accel);
  const result = {
    schema: 'instaclone-bench/1',
    mode: quick ? 'quick' : 'full',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: r1((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine: machineFacts,
    options,
    metrics,
    breakdown,
    throughput,
    memory,
    ramp,
    qemuCompare,
    api,
    targets,
    recommendations,
    errors,
  };
  printTable(result, rows.map((r) => r.id));
  if (save) {
    const dir = path.join(repo, 'bench/results');
    fs.mkdirSync(dir, { recursive: true });
    const body = JSON.stringify(result, null, 2) + '\n';
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    fs.writeFileSync(path.join(dir, `bench-${stamp}${quick ? '-quick' : ''}.json`), body);
    const latest = merge ? JSON.stringify(mergeInto(path.join(dir, 'latest.json'), result, `bench-${stamp}${quick ? '-quick' : ''}.json`), null, 2) + '\n' : body;
    fs.writeFileSync(path.join(dir, 'latest.json.tmp'), latest);
    fs.renameSync(path.join(dir, 'latest.json.tmp'), path.join(dir, 'latest.json'));
    console.log(`\nwrote bench/results/latest.json and bench/results/bench-${stamp}${quick ? '-quick' : ''}.json`);
  }
}

/**
 * --merge: the previous latest.json with this run's figures laid over it (metrics and target rows by
 * id, errors by scenario); everything else (machine, throughput, memory…) stays the previous run's,
 * and `merged` says which run added which figures, so no figure loses the run it came from.
 */
function mergeInto(file: string, run: Record<string, any>, runFile: string): Record<string, unknown> {
  let prev: Record<string, any>;
  try {
    prev = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return run;
  }
  const ids = Object.keys(run.metrics);
  const ran = [...new Set(ids.map((id) => id.split('.')[0]))];
  return {
    ...prev,
    metrics: { ...prev.metrics, ...run.metrics },
    targets: [...(prev.targets ?? []).filter((t: { id: string }) => !ids.includes(t.id)), ...run.targets],
    errors: [...(prev.errors ?? []).filter((e: { scenario: string }) => !ran.includes(e.scenario)), ...run.errors],
    // an earlier merge made by hand may say it in one object: kept as the first entry
    merged: [...(Array.isArray(prev.merged) ? prev.merged : prev.merged ? [prev.merged] : []), { file: runFile, startedAt: run.startedAt, finishedAt: run.finishedAt, metrics: ids, loadavgStart: run.machine.loadavgStart, loadavgEnd: run.machine.loadavgEnd }],
  };
}

function buildRecommendations(accel: string): string[] {
  const out: string[] = [];
  const b = breakdown.forkPrelaunched ?? breakdown.stages;
  if (b?.identityMs?.median != null && b.agentMs?.median != null) {
    out.push(
      `Identity apply/verify is the largest per-child step (median ${b.identityMs.median} ms, agent first answer ${b.agentMs.median} ms, checkpoint load ${b.loadMs?.median} ms): ` +
        'under TCG every fork/exec in the guest costs tens of ms, so the identity script should run as one resident guest helper (no /bin/sh + busybox applets per step), and the agent round trips (guest-set-time, guest-exec, guest-exec-status polls) should be merged into one request.',
    );
  }
  const st = breakdown.stages;
  if (st?.spawnMs?.median != null) {
    out.push(
      `A fresh QEMU costs ${st.spawnMs.median} ms to spawn (daemonize, median) + ${st.qmpMs.median} ms QMP connect before the checkpoint load (${st.loadMs.median} ms) can start: ` +
        'prelaunched slots (topped up in the background after every fork) and the reset spare keep it off the fork and reset paths.',
    );
  }
  const rs = breakdown.reset;
  if (rs?.totalMs?.median != null) {
    out.push(`Reset from the template's spare VMM takes ${rs.totalMs.median} ms median against ${rs.freshMs?.median} ms from a fresh VMM (spawn ${rs.spawnMs.median}, load ${rs.loadMs.median} ms): what remains is the identity answer, guest work under TCG.`);
  }
  if (accel === 'tcg') out.push('This host runs TCG: every figure that involves guest work (boot, agent, identity, idle ticks) is bounded by instruction emulation on 2 shared cores; see bench/experiments/ for the KVM probe.');
  return out;
}

function fmt(v: number | null | undefined, unit: string): string {
  if (v == null) return '—';
  const d = unit === 'x' || unit === '%core' ? 2 : unit === 'children' ? 0 : 1;
  return `${v.toFixed(d)} ${unit}`;
}

function printTable(result: { metrics: Record<string, Metric>; machine: Record<string, unknown> }, ids: string[]) {
  const m = result.metrics;
  const lines: string[][] = [['figure', 'median', 'p95', 'n', 'target', '']];
  for (const id of ids) {
    const x = m[id];
    if (!x) continue;
    lines.push([
      x.label.length > 78 ? x.label.slice(0, 77) + '…' : x.label,
      fmt(x.value, x.unit),
      x.samples.length > 1 ? fmt(x.p95, x.unit) : '',
      String(x.samples.length || ''),
      x.target?.text ?? '',
      x.pass === true ? 'PASS' : x.pass === false ? 'MISS' : x.target ? 'n/a' : '',
    ]);
  }
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const mc = result.machine;
  console.log(`\n═ Instaclone benchmark — ${mc.cores} cores, ${String(mc.accel).toUpperCase()}${mc.accel === 'kvm' ? ' (KVM used)' : ''}, QEMU ${mc.qemuVersion}, guest ${mc.guestKernel}`);
  for (const [i, l] of lines.entries()) {
    console.log(l.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('  '));
    if (i === 0) console.log(w.map((n) => '─'.repeat(n)).join('  '));
  }
  const missed = ids.map((id) => [id, m[id]] as const).filter(([, x]) => x?.pass === false && x.boundBy);
  if (missed.length) {
    console.log('\nWhat bounds the missed targets:');
    for (const [, x] of missed) console.log(`  • ${x.label}: ${x.boundBy}`);
  }
  if (errors.length) {
    console.log('\nErrors:');
    for (const e of errors) console.log(`  • ${e.scenario}: ${e.message}`);
  }
}

main()
  .catch((e) => {
    console.error(`benchmark failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    process.exit(process.exitCode ?? 0);
  });
