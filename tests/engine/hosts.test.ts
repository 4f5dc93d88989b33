// Many hosts on one machine: this process is the console side (lib/cluster dispatch against the
// shared PostgreSQL), two agents run as child processes (`npm run agent`: own home, run dir, port,
// schema). Real QEMU (TCG, tiny image): prepare on A, fork placed on A, a duplicate request id
// makes no second child, a fork pinned to B replicates first (sha256 checked), a host with another
// QEMU version is refused a replica, a SIGKILLed agent goes lost with its VMs and reconciles
// when it comes back, a live fork runs on its VM's agent, and a full template store evicts unused
// replicas or refuses. At most 2 guests run at once.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, localAgents, startLocalAgent } from '../../bench/lib/agents';
import { need, strict } from '../strict';
import { qemuPids, teardownCluster } from './engine-env';
import { clusterForkSchema, clusterPrepareSchema } from '../../lib/validations/hosts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const url = freshDatabase();
const secret = randomBytes(32).toString('hex');
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-hosts-'));
fs.chmodSync(base, 0o711); // QEMU runs under per-VM uids that must pass through
const tag = path.basename(base);
const [agentA, agentB] = localAgents(['a', 'b'], base, {
  url: url ?? '',
  secret,
  portBase: 3300 + Math.floor(Math.random() * 20) * 2,
  env: { INSTACLONE_HEARTBEAT_S: '1', INSTACLONE_HOST_LOST_S: '4' },
});
const agents = { a: agentA, b: agentB };
agentB.env.INSTACLONE_TEMPLATE_STORE_MIB = '200'; // room for one 128 MiB replica: the eviction test fills it

type Cluster = typeof import('../../lib/cluster/dispatch');
type Hosts = typeof import('../../lib/cluster/hosts');
let C: Cluster;
let H: Hosts;
let pg: import('pg').Pool;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; agent logs:\n${agents.a.log.join('')}\n${agents.b.log.join('')}`);
    await sleep(200);
  }
}

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe.runIf(url || strict)('many hosts: a console and two agents on one PostgreSQL', () => {
  beforeAll(async () => {
    need(!!url, 'PostgreSQL could not be started (scripts/test-postgres.sh needs root and Debian postgresql)');
    // console side: this process (public schema)
    process.env.DATABASE_URL = url!;
    process.env.INSTACLONE_AGENT_SECRET = secret;
    process.env.INSTACLONE_HOME = path.join(base, 'console');
    process.env.INSTACLONE_RUN = `/dev/shm/${tag}-console`;
    process.env.INSTACLONE_HOST_LOST_S = '4';
    startLocalAgent(agents.a);
    startLocalAgent(agents.b);
    C = await import('../../lib/cluster/dispatch');
    H = await import('../../lib/cluster/hosts');
    pg = (await import('../../lib/cluster/pg')).clusterPg();
    await until('both agents registered', async () => (await H.hostRows().catch(() => [])).filter((h) => h.state === 'ready').length === 2, 180_000);
  });

  afterAll(async () => {
    const left = await teardownCluster(Object.values(agents), `/dev/shm/${tag}-console`, base);
    expect(left).toEqual([]);
  });

  it('agents register their facts, heartbeat, and answer only with the shared secret', async () => {
    const hosts = await H.hostRows();
    for (const h of hosts) {
      expect(h).toMatchObject({ state: 'ready', accel: expect.stringMatching(/tcg|kvm/), qemuVersion: expect.stringMatching(/^\d+\.\d+/) });
      expect(h.cores).toBeGreaterThan(0);
      expect(h.memoryBytes).toBeGreaterThan(2 ** 28);
      expect(h.schemaName).toBe(`host_${h.name}`);
    }
    const before = hosts.find((h) => h.name === 'a')!.lastSeen.getTime();
    await until('a heartbeat', async () => (await H.hostRow('a')).lastSeen.getTime() > before, 10_000);
    const u = `http://127.0.0.1:${agents.a.port}/v1/info`;
    expect((await fetch(u)).status).toBe(401);
    expect((await fetch(u, { headers: { authorization: `Bearer ${'x'.repeat(64)}` } })).status).toBe(401);
    const ok = await fetch(u, { headers: { authorization: `Bearer ${secret}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'a', templates: [] });
    // REST GET /api/v1/hosts answers this document
    const { hostsView } = await import('../../lib/cluster/views');
    const { Engine } = await import('../../lib/engine');
    const view = await hostsView(Engine.get());
    expect(view.hosts.map((h) => h.name)).toEqual(['a', 'b']);
    for (const h of view.hosts) expect(Object.keys(h)).toEqual(expect.arrayContaining(['name', 'state', 'cores', 'memoryBytes', 'qemuVersion', 'templates', 'vms', 'lastSeen']));
  });

  it('prepares on the pinned host, forks there (placement), and a repeated request id makes no second child', async () => {
    const t = await C.routePrepare(clusterPrepareSchema.parse({ host: 'a', image: 'tiny', name: 'web', memory: 128, warmup: ['echo warm > /tmp/w'] }), 'test');
    expect(t).toMatchObject({ host: 'a', state: 'frozen' });
    const requestId = `req-${randomBytes(6).toString('hex')}`;
    const r1 = await C.routeFork('web', clusterForkSchema.parse({ count: 1, requestId }), 'test');
    expect(r1!.host).toBe('a'); // the only host with the template
    const r2 = await C.routeFork('web', clusterForkSchema.parse({ count: 1, requestId }), 'test');
    expect(r2!.children.map((c) => c.id)).toEqual(r1!.children.map((c) => c.id));
    const n = await pg.query(`SELECT count(*)::int AS n FROM host_a."Vm" WHERE kind = 'child'`);
    expect(n.rows[0].n).toBe(1);
    // the ls of every host shows where each VM runs
    const { clusterList } = await import('../../lib/cluster/views');
    const { Engine } = await import('../../lib/engine');
    const ls = await clusterList(Engine.get());
    expect(ls.vms.find((v) => v.id === r1!.children[0].id)).toMatchObject({ host: 'a', state: 'running' });
    // a VM action goes to its host
    await C.routeVmAction(r1!.children[0].name, 'remove', 'test', true);
    expect((await pg.query(`SELECT 1 FROM host_a."Vm" WHERE id = $1`, [r1!.children[0].id])).rowCount).toBe(0);
  });

  it('the service layer (what REST and the console\'s server actions call) routes fork, reset, ls and remove to the agent', async () => {
    const svc = { templates: await import('../../lib/services/templates'), vms: await import('../../lib/services/vms'), reads: await import('../../lib/services/reads') };
    const op = { kind: 'session', name: 'op-1', role: 'operator' } as const;
    const r = (await svc.templates.forkTemplate(op, { ref: 'web', count: 1 })) as { host?: string; children: { id: string; name: string }[] };
    expect(r.host).toBe('a');
    const child = r.children[0];
    expect((await pg.query(`SELECT 1 FROM host_a."Vm" WHERE id = $1`, [child.id])).rowCount).toBe(1);
    expect((await svc.reads.listAll(op)).vms.find((v) => v.id === child.id)).toMatchObject({ host: 'a' });
    await svc.vms.resetVm(op, { ref: child.name }); // on the agent: this console has no such VM
    await svc.vms.removeVm(op, { ref: child.name, force: true });
    expect((await pg.query(`SELECT 1 FROM host_a."Vm" WHERE id = $1`, [child.id])).rowCount).toBe(0);
  });

  let liveTpl: { id: string; name: string } | null = null;

  it('a live fork of a VM on an agent runs on that agent, and its request id makes it idempotent', async () => {
    const svc = await import('../../lib/services/templates');
    const op = { kind: 'session', name: 'op-1', role: 'operator' } as const;
    const src = (await C.routeFork('web', clusterForkSchema.parse({ count: 1 }), 'test'))!.children[0];
    const requestId = `live-${randomBytes(6).toString('hex')}`;
    type Live = { host: string; source: { id: string }; template: { id: string; name: string }; children: { id: string; name: string }[] };
    const r = (await svc.forkTemplate(op, { ref: src.name, count: 1, requestId })) as unknown as Live;
    expect(r.host).toBe('a');
    expect(r.source.id).toBe(src.id);
    const again = (await svc.forkTemplate(op, { ref: src.name, count: 1, requestId })) as unknown as Live;
    expect(again.children.map((c) => c.id)).toEqual(r.children.map((c) => c.id));
    // the VM's own door (REST POST /api/v1/vms/REF/fork, the console's live-fork action) goes to the agent too
    const vms = await import('../../lib/services/vms');
    const viaVm = (await vms.liveForkVm(op, { ref: src.name, count: 1, requestId })) as unknown as Live;
    expect(viaVm).toMatchObject({ host: 'a', children: [{ id: r.children[0].id }] });
    expect((await pg.query(`SELECT count(*)::int AS n FROM host_a."Vm" WHERE "templateId" = $1`, [r.template.id])).rows[0].n).toBe(1);
    expect((await pg.query(`SELECT state FROM host_a."Vm" WHERE id = $1`, [src.id])).rows[0].state).toBe('running'); // the source carries on
    const pinned = await svc.forkTemplate(op, { ref: src.name, count: 1, host: 'b' }).then(() => null, (e) => e);
    expect(pinned?.message).toMatch(/runs on host "a" and a live fork runs where its VM runs/);
    for (const id of [r.children[0].id, src.id]) await C.routeVmAction(id, 'remove', 'test', true);
    liveTpl = r.template; // a second template on a, for the eviction test
  });

  it('refuses a replica on a host with another QEMU version, with the reason', async () => {
    const a = await H.hostRow('a');
    await pg.query(
      `INSERT INTO public."Host" (name, state, url, "schemaName", cores, "memoryBytes", "qemuVersion", "cpuModel", accel) VALUES ('old', 'ready', 'http://127.0.0.1:9', 'host_old', 2, 1073741824, '6.2.0', $1, 'tcg')`,
      [a.cpuModel],
    );
    await sleep(1100); // the console's host list is cached for 1 s
    try {
      const err = await C.routeFork('web', clusterForkSchema.parse({ count: 1, host: 'old' }), 'test').then(() => null, (e) => e);
      expect(err?.code).toBe('conflict');
      expect(err?.message).toMatch(/runs QEMU 6\.2\.0 but the template was made with QEMU .* its device checkpoint cannot load there/);
      const jobs = await pg.query(`SELECT 1 FROM graphile_worker.jobs WHERE task_identifier = 'replicate@old'`).catch(() => ({ rowCount: 0 }));
      expect(jobs.rowCount).toBe(0); // refused before anything was queued
    } finally {
      await pg.query(`DELETE FROM public."Host" WHERE name = 'old'`);
    }
  });

  it('refuses to replicate an imported (firmware) template, with the reason, before anything is queued', async () => {
    const id = `tpl_uefi_${randomBytes(4).toString('hex')}`;
    await pg.query(
      `INSERT INTO host_a."Template" (id, name, state, image, "memoryMiB", dir, "ramPath", "statePath", "diskPath", config) VALUES ($1, $1, 'frozen', 'imported-disk', 128, '/nonexistent', '/nonexistent/ram', '/nonexistent/state', '/nonexistent/disk', $2)`,
      [id, JSON.stringify({ boot: 'uefi', ovmfCode: '/usr/share/OVMF/OVMF_CODE.fd' })],
    );
    try {
      const err = await C.routeFork(id, clusterForkSchema.parse({ count: 1, host: 'b' }), 'test').then(() => null, (e) => e);
      expect(err?.code).toBe('conflict');
      expect(err?.message).toMatch(/boots an imported disk through firmware: .* import the image on host "b" and prepare the template there/);
      expect((await pg.query(`SELECT 1 FROM graphile_worker.jobs WHERE key = $1`, [`replicate:${id}:b`]).catch(() => ({ rowCount: 0 }))).rowCount).toBe(0);
    } finally {
      await pg.query(`DELETE FROM host_a."Template" WHERE id = $1`, [id]);
    }
  });

  it('a fork pinned to B copies the template there first (sha256 of every file checked), then forks on B', async () => {
    const requestId = `req-${randomBytes(6).toString('hex')}`;
    const t0 = performance.now();
    const r = await C.routeFork('web', clusterForkSchema.parse({ count: 1, host: 'b', requestId }), 'test');
    const wallMs = performance.now() - t0;
    expect(r!.host).toBe('b');
    const tplA = (await pg.query(`SELECT * FROM host_a."Template" WHERE name = 'web'`)).rows[0];
    const tplB = (await pg.query(`SELECT * FROM host_b."Template" WHERE name = 'web'`)).rows[0];
    expect(tplB.id).toBe(tplA.id);
    expect(tplB.ramPath.startsWith(agents.b.run)).toBe(true);
    const sumsA = JSON.parse(tplA.checksums);
    let bytes = 0;
    for (const [k, f] of [['ram', tplB.ramPath], ['state', tplB.statePath], ['disk', tplB.diskPath]] as const) {
      expect(sha(f), k).toBe(sumsA[k]);
      bytes += fs.statSync(f).size;
    }
    const copyMs = wallMs - r!.timings.totalMs; // the pinned fork's wall time minus the fork itself (figures only, never asserted)
    console.log(`hosts: replicated ${(bytes / 2 ** 20).toFixed(1)} MiB in ≈${copyMs.toFixed(0)} ms (≈${(bytes / 2 ** 20 / (copyMs / 1000)).toFixed(1)} MiB/s incl. job pick-up and the fork's HTTP round trip)`);
    const child = (await pg.query(`SELECT state, "templateId" FROM host_b."Vm" WHERE id = $1`, [r!.children[0].id])).rows[0];
    expect(child).toMatchObject({ state: 'running', templateId: tplA.id });
    // unpinned forks may now land on either host that holds it
    expect((await C.locateTemplate('web')).hosts.map((h) => h.name).sort()).toEqual(['a', 'b']);
    // a retry of that request without the pin goes back to B and gets the same child, never a second one
    const again = await C.routeFork('web', clusterForkSchema.parse({ count: 1, requestId }), 'test');
    expect(again).toMatchObject({ host: 'b', children: [{ id: r!.children[0].id }] });
    const other = await C.routeFork('web2', clusterForkSchema.parse({ count: 1, requestId }), 'test').then(() => null, (e) => e);
    expect(other?.code).toBe('not_found'); // unknown template: refused before any host is asked
    expect((await pg.query(`SELECT count(*)::int AS n FROM host_b."Vm" WHERE kind = 'child'`)).rows[0].n).toBe(1);
    // a draining host takes no new children: an unpinned fork lands on the other one
    await H.setDrain('a', true);
    await sleep(1100); // the console's host list is cached for 1 s
    try {
      const d = await C.routeFork('web', clusterForkSchema.parse({ count: 1 }), 'test');
      expect(d!.host).toBe('b');
      console.log(`hosts: fork of 1 through the console ${d!.timings.totalMs} ms on the agent`);
      await C.routeVmAction(d!.children[0].id, 'remove', 'test', true);
    } finally {
      await H.setDrain('a', false);
    }
  });

  it('a SIGKILLed agent goes lost with its VMs (when and why), and reconciles them when it comes back', async () => {
    const b = agents.b;
    const vm = (await pg.query(`SELECT id, pid FROM host_b."Vm" WHERE state = 'running' LIMIT 1`)).rows[0];
    expect(vm).toBeTruthy();
    b.proc!.kill('SIGKILL');
    const lost = await until('b lost', async () => {
      const h = await H.hostRow('b');
      return h.state === 'lost' ? h : null;
    }, 30_000);
    expect(lost.lostReason).toMatch(/no heartbeat for more than 4 s/);
    const row = (await pg.query(`SELECT state, "lostAt", "lostReason" FROM host_b."Vm" WHERE id = $1`, [vm.id])).rows[0];
    expect(row.state).toBe('lost');
    expect(row.lostAt).toBeInstanceOf(Date);
    expect(row.lostReason).toMatch(/Host "b" stopped answering/);
    // placement skips it; a fork pinned to it is refused with the reason
    const err = await C.routeFork('web', clusterForkSchema.parse({ count: 1, host: 'b' }), 'test').then(() => null, (e) => e);
    expect(err?.message).toMatch(/Host "b" is lost \(no heartbeat/);
    // its QEMU kept running; the restarted agent adopts it
    b.log.length = 0;
    startLocalAgent(b);
    await until('b back', async () => (await H.hostRow('b')).state === 'ready', 180_000);
    const back = await until('b\'s VM reconciled', async () => {
      const r = (await pg.query(`SELECT state, pid, "lostAt" FROM host_b."Vm" WHERE id = $1`, [vm.id])).rows[0];
      return r.state === 'running' ? r : null;
    }, 60_000);
    expect(back.pid).toBe(vm.pid);
    expect(back.lostAt).toBeNull();
  });

  it('an agent SIGKILLed mid-fork: the retried request makes no second child, and nothing is orphaned', async () => {
    const a = agents.a;
    const requestId = `req-${randomBytes(6).toString('hex')}`;
    const before = new Set((await pg.query(`SELECT id FROM host_a."Vm"`)).rows.map((r) => r.id));
    const forking = C.routeFork('web', clusterForkSchema.parse({ count: 1, host: 'a', requestId }), 'test').then(() => null, (e) => e);
    await until('the fork under way on a', async () => (await pg.query(`SELECT 1 FROM host_a."ForkRequest" WHERE key = $1`, [requestId])).rowCount && (await pg.query(`SELECT id FROM host_a."Vm"`)).rows.some((r) => !before.has(r.id)), 60_000);
    a.proc!.kill('SIGKILL');
    const killedAt = Date.now();
    expect((await forking)?.code).toBe('unavailable'); // the console saw the agent go away
    a.log.length = 0;
    startLocalAgent(a);
    await until('a back', async () => {
      const h = await H.hostRow('a');
      return h.state === 'ready' && h.startedAt.getTime() > killedAt - 1000;
    }, 180_000);
    await sleep(1100); // the console's host list is cached for 1 s
    const retry = await C.routeFork('web', clusterForkSchema.parse({ count: 1, host: 'a', requestId }), 'test').then(() => null, (e) => e);
    expect(retry?.message).toMatch(/was interrupted when its agent restarted/);
    // the half-made child was reconciled: no VM of that request runs, and every QEMU under a's run dir belongs to a running VM
    const rows = (await pg.query(`SELECT id, state, pid FROM host_a."Vm"`)).rows;
    const fresh = rows.filter((r) => !before.has(r.id));
    expect(fresh.filter((r) => r.state === 'running' || r.state === 'starting')).toEqual([]);
    const live = rows.filter((r) => r.state === 'running').map((r) => r.pid).sort();
    await until('no orphan QEMU on a', async () => JSON.stringify(qemuPids(a.run).sort()) === JSON.stringify(live), 30_000);
  });
  it('replication into a full template store evicts unused replicas, else refuses with the need and the free space', async () => {
    // b (INSTACLONE_TEMPLATE_STORE_MIB=200) holds the 128 MiB replica of "web", still used by a child; the live fork's template is only on a
    const tpl = liveTpl!;
    expect(tpl).toBeTruthy();
    const webId = (await pg.query(`SELECT id FROM host_a."Template" WHERE name = 'web'`)).rows[0].id;
    const refused = await C.routeFork(tpl.id, clusterForkSchema.parse({ count: 1, host: 'b' }), 'test').then(() => null, (e) => e);
    expect(refused?.code).toBe('insufficient');
    expect(refused?.message).toMatch(/Host "b" has no room for template ".+": it needs 128 MiB of template storage and has \d+ MiB free \(INSTACLONE_TEMPLATE_STORE_MIB=200 of which templates use 128 MiB\), and no unused replica to evict/);
    expect((await pg.query(`SELECT 1 FROM host_b."Template" WHERE id = $1`, [webId])).rowCount).toBe(1); // nothing used was evicted
    // once web's children on b are gone its replica is unused: evicted to make room, then the copy and the fork run
    for (const v of (await pg.query(`SELECT id FROM host_b."Vm" WHERE "templateId" = $1`, [webId])).rows) await C.routeVmAction(v.id, 'remove', 'test', true);
    const r = await C.routeFork(tpl.id, clusterForkSchema.parse({ count: 1, host: 'b' }), 'test');
    expect(r!.host).toBe('b');
    expect((await pg.query(`SELECT id FROM host_b."Template"`)).rows.map((x) => x.id)).toEqual([tpl.id]);
    expect(fs.existsSync(path.join(agents.b.run, 'templates', webId))).toBe(false);
    expect(agents.b.log.join('')).toMatch(/evicted unused replica\(s\) web to make room/);
    expect((await pg.query(`SELECT 1 FROM host_a."Template" WHERE id = $1`, [webId])).rowCount).toBe(1); // prepared on a: never evicted
    await C.routeVmAction(r!.children[0].id, 'remove', 'test', true);
  });
});
