// Soak: fork and delete children in a loop (at most SOAK_ROUNDS rounds of SOAK_CHILDREN children or
// SOAK_MS, whichever comes first), then check that QEMU processes, sockets, overlays, RAM files,
// leases and the server's own file descriptors do not leak, and that the database matches pgrep.
// One round in three SIGKILLs a child first (crash → cleanup path), one in three deletes in reverse.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPids, runEntries, setupEnv, teardownEnv, waitFor } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

// the rounds compare run dirs with the first round's: slots used up stay used up (no background top-up)
process.env.INSTACLONE_SLOT_TOPUP = '0';
const ROUNDS = Number(process.env.SOAK_ROUNDS) || 8;
const CHILDREN = Number(process.env.SOAK_CHILDREN) || 3;
const BUDGET_MS = Number(process.env.SOAK_MS) || 150_000;

const env = setupEnv('soak');
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;
let adm: typeof import('../../lib/engine/admission');

const pgrepPids = (pattern: string) =>
  spawnSync('pgrep', ['-f', pattern], { timeout: 60_000, encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid)
    .sort();

/** Every file under `dir` (relative), sockets included. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length;

/** Database vs reality, via pgrep (not the engine's own bookkeeping). */
async function dbMatchesPgrep() {
  const vms = await db().vm.findMany();
  const slots = await db().slot.findMany();
  const dbPids = [...vms.filter((v) => v.state === 'running' || v.state === 'starting').map((v) => v.pid), ...slots.map((s) => s.pid)]
    .filter((p): p is number => !!p)
    .sort();
  expect(pgrepPids(`qemu-system.*${env.run}/`)).toEqual(dbPids);
  expect(qemuPids(env.run).sort()).toEqual(dbPids);
}

beforeAll(async () => {
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  db = dbm.db;
  adm = await import('../../lib/engine/admission');
  const { Engine } = await import('../../lib/engine');
  E = Engine.get();
  await E.start();
  // two prelaunched slots: the first round takes them, later rounds launch fresh VMMs
  await E.prepare(prepareSchema.parse({ name: 's', memory: 256, slots: 2, prelaunch: true }));
});

afterAll(async () => {
  await teardownEnv(env);
  expect(qemuPids(env.run)).toEqual([]);
  expect(pgrepPids(env.run)).toEqual([]);
});

describe('soak', () => {
  it(`forks and deletes ${CHILDREN} children per round for up to ${ROUNDS} rounds without leaking anything`, async () => {
    // the first round consumes the prelaunched slots; the baseline is taken after it
    const tpl = await db().template.findUniqueOrThrow({ where: { name: 's' } });
    const rounds: { round: number; forkMs: number; removeMs: number; pss: number }[] = [];
    let baseline: { fds: number; run: string[]; home: string[]; shm: string[] } | null = null;
    const t0 = Date.now();
    for (let round = 1; round <= ROUNDS && Date.now() - t0 < BUDGET_MS; round++) {
      const f0 = performance.now();
      const f = await E.fork('s', forkSchema.parse({ count: CHILDREN, prefix: `r${round}` }));
      const forkMs = performance.now() - f0;
      expect(f.children).toHaveLength(CHILDREN);
      for (const c of f.children) {
        const r = await E.exec(c.name, execSchema.parse({ command: ['/bin/sh', '-c', 'hostname; dd if=/dev/zero of=/tmp/z bs=1M count=4 2>/dev/null; echo ok'], timeoutMs: 30_000 }));
        expect(r.stdout).toBe(`${c.name}\nok\n`);
      }
      const usage = await adm.measureUsage(tpl.id);
      expect(usage.template!.measured).toBe(CHILDREN);
      await dbMatchesPgrep();
      let order = f.children.map((c) => c.name);
      if (round % 3 === 0) order = order.reverse();
      if (round % 3 === 2) {
        // a child dies on its own before it is deleted
        const v = await db().vm.findUniqueOrThrow({ where: { name: order[0] } });
        process.kill(v.pid!, 'SIGKILL');
        // seen through its QMP socket closing: wait for that, not a fixed 2 s (a loaded host delays it)
        await waitFor('the killed child marked crashed', async () => (await db().vm.findUniqueOrThrow({ where: { id: v.id } })).state === 'crashed', 60_000);
      }
      const d0 = performance.now();
      for (const n of order) await E.remove(n);
      const removeMs = performance.now() - d0;
      rounds.push({ round, forkMs: Math.round(forkMs), removeMs: Math.round(removeMs), pss: Math.round(usage.template!.pssMiB ?? 0) });

      // after every round: no child anywhere
      expect(await db().vm.count()).toBe(0);
      expect(await db().slot.count()).toBe(0);
      expect(await db().lease.count()).toBe(0);
      expect(runEntries(env)).toEqual([]);
      await dbMatchesPgrep();
      const now = { fds: fdCount(), run: tree(env.run), home: tree(path.join(env.home, 'vms')), shm: tree(path.join(env.run, 'templates')) };
      if (!baseline) baseline = now;
      else {
        expect(now.run).toEqual(baseline.run);
        expect(now.home).toEqual(baseline.home);
        expect(now.shm).toEqual(baseline.shm);
        // sockets, pipes and files the server holds: allow a little slack for the DB and timers
        expect(now.fds - baseline.fds).toBeLessThanOrEqual(4);
      }
    }
    console.log(`soak: ${rounds.length} rounds in ${Math.round((Date.now() - t0) / 1000)} s`, JSON.stringify(rounds));
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    // only the template's own files remain on tmpfs: its RAM file (no overlays, sockets or pidfiles)
    expect(tree(env.run)).toEqual([`templates/${tpl.id}/ram`]);
    expect(E.qemuPids()).toEqual([]);
    // the engine holds no handle on a removed VM
    const stats = await E.stats();
    expect(stats.totals.vms).toBe(0);
    // the event log recorded each fork and delete
    expect(await db().task.count({ where: { kind: 'fork', state: 'succeeded' } })).toBe(rounds.length);
  });
});
