// Pools over many hosts on one machine: this process is the console (services + the pool planner on
// the shared PostgreSQL), three agents run as child processes (own home, run dir, port, schema).
// Real QEMU (TCG, tiny image, 128 MiB): a pool of 3 spares spreads one per host; claims come from
// any host and never hand a spare out twice; a SIGKILLed agent's spares are replaced elsewhere and
// removed when it comes back; draining a host moves its spares away.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, localAgents, startLocalAgent } from '../../bench/lib/agents';
import { need, strict } from '../strict';
import { qemuPids, teardownCluster, waitFor } from './engine-env';
import { clusterPrepareSchema } from '../../lib/validations/hosts';

const url = freshDatabase();
const secret = randomBytes(32).toString('hex');
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-hpools-'));
fs.chmodSync(base, 0o711); // QEMU runs under per-VM uids that must pass through
const tag = path.basename(base);
const agents = localAgents(['a', 'b', 'c'], base, {
  url: url ?? '',
  secret,
  portBase: 3350 + Math.floor(Math.random() * 9) * 3,
  env: { INSTACLONE_HEARTBEAT_S: '1', INSTACLONE_HOST_LOST_S: '4', INSTACLONE_RESET_SPARE: '0', INSTACLONE_SLOT_TOPUP: '0', INSTACLONE_HOST_PSS_S: '2' },
});
const byName = Object.fromEntries(agents.map((a) => [a.name, a]));
const logs = () => agents.map((a) => `--- ${a.name}\n${a.log.join('').slice(-4000)}`).join('\n');

const op = { kind: 'session', name: 'op-1', role: 'operator' } as const;
let svc: { pools: typeof import('../../lib/services/pools'); vms: typeof import('../../lib/services/vms') };
let H: typeof import('../../lib/cluster/hosts');
let P: typeof import('../../lib/cluster/pools');
let pg: import('pg').Pool;
let planner: NodeJS.Timeout | null = null;

type View = Awaited<ReturnType<typeof import('../../lib/cluster/pools')['clusterView']>>;
const view = async () => (await svc.pools.getPool(op, { ref: 'p' })) as View;
const readyOn = (v: View) => Object.fromEntries(v.hosts.map((h) => [h.host, h.ready]));
/** spares whose VM runs, per host, from the agents' own schemas */
async function runningSpares(host: string): Promise<string[]> {
  const r = await pg.query(
    `SELECT m."vmId" FROM host_${host}."PoolMember" m JOIN host_${host}."Pool" p ON p.id = m."poolId" JOIN host_${host}."Vm" v ON v.id = m."vmId" WHERE p.name = $1 AND m.state = 'spare' AND v.state = 'running'`,
    [`p-${host}`],
  ).catch(() => ({ rows: [] }));
  return r.rows.map((x) => x.vmId);
}

describe.runIf(url || strict)('pools over many hosts: a console and three agents on one PostgreSQL', () => {
  beforeAll(async () => {
    need(!!url, 'PostgreSQL could not be started (scripts/test-postgres.sh needs root and Debian postgresql)');
    process.env.DATABASE_URL = url!;
    process.env.INSTACLONE_AGENT_SECRET = secret;
    process.env.INSTACLONE_HOME = path.join(base, 'console');
    process.env.INSTACLONE_RUN = `/dev/shm/${tag}-console`;
    process.env.INSTACLONE_HOST_LOST_S = '4';
    for (const a of agents) startLocalAgent(a);
    H = await import('../../lib/cluster/hosts');
    P = await import('../../lib/cluster/pools');
    svc = { pools: await import('../../lib/services/pools'), vms: await import('../../lib/services/vms') };
    pg = (await import('../../lib/cluster/pg')).clusterPg();
    const t0 = performance.now();
    await waitFor('three agents registered', async () => (await H.hostRows()).filter((h) => h.state === 'ready').length === 3, 240_000, logs);
    // the template: prepared on a, copied to b and c (sha256 checked by the replicate jobs)
    const C = await import('../../lib/cluster/dispatch');
    console.log(`hosts-pools: agents registered after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await C.routePrepare(clusterPrepareSchema.parse({ host: 'a', image: 'tiny', name: 'web', memory: 128 }), 'test');
    const { ensureReplica } = await import('../../lib/cluster/replicate');
    const tpl = await C.locateTemplate('web');
    await Promise.all(['b', 'c'].map(async (h) => ensureReplica(tpl, await H.hostRow(h)))); // one job on each host's queue
    expect((await C.locateTemplate('web')).hosts.map((h) => h.name).sort()).toEqual(['a', 'b', 'c']);
    console.log(`hosts-pools: set-up (3 agents, prepare, 2 replicas) ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    planner = P.startPoolPlanner(500); // what the console's watch runs (every 2 s there)
  });

  afterAll(async () => {
    if (planner) clearInterval(planner);
    const left = await teardownCluster(agents, `/dev/shm/${tag}-console`, base);
    expect(left).toEqual([]);
  });

  it('a pool spreads its spares over the hosts, and claims come from any host, never the same spare twice', async () => {
    await svc.pools.createPool(op, { name: 'p', template: 'web', size: 4, spares: 3 });
    const v = await waitFor('one spare ready on each host', async () => {
      const x = await view();
      // an agent logs its refill just after the spare is listed: wait for the three events too
      return x.ready === 3 && x.members.length === 3 && x.hosts.length === 3 && x.hosts.every((h) => h.ready === 1) && x.refill.perMinute >= 0.3 ? x : null;
    }, 180_000, logs);
    expect(v.members.map((m) => m.host).sort()).toEqual(['a', 'b', 'c']); // pool ls shows each spare's host
    // each agent logged its refill: the pool's rate adds them up (3 spares in the last 10 minutes)
    expect(v.refill.perMinute).toBeGreaterThanOrEqual(0.3);
    expect(v.refill.meanMs).toBeGreaterThan(0);
    // the shares went out as keyed jobs, one per pool and host
    const shares = (await pg.query(`SELECT shares FROM public."ClusterPool" WHERE name = 'p'`)).rows[0].shares;
    expect(JSON.parse(shares)).toEqual({ a: { size: 1, spares: 1 }, b: { size: 1, spares: 1 }, c: { size: 1, spares: 1 } });
    // two claims at once: two different children, each recorded as claimed on its own host only
    const [c1, c2] = (await Promise.all([svc.pools.claimFromPool(op, { ref: 'p', label: 'one' }), svc.pools.claimFromPool(op, { ref: 'p', label: 'two' })])) as (import('../../lib/engine/pools').ClaimResult & { host: string })[];
    expect(c1.vm.id).not.toBe(c2.vm.id);
    expect(c1.source).toBe('spare');
    for (const c of [c1, c2]) {
      const r = await pg.query(`SELECT state, "claimedBy" FROM host_${c.host}."PoolMember" WHERE "vmId" = $1`, [c.vm.id]);
      expect(r.rows[0]).toMatchObject({ state: 'claimed', claimedBy: 'op-1' });
      expect(c.vm.identity.hostname).toBeTruthy();
    }
    console.log(`hosts-pools: claims through agents ${c1.claimMs} / ${c2.claimMs} ms`);
    // a request id: retries (two at once here) go back to the host that answered and get the same child
    type Claimed = import('../../lib/engine/pools').ClaimResult & { host: string };
    const claim = (who: { kind: 'session'; name: string; role: 'operator' }, requestId: string) => svc.pools.claimFromPool(who, { ref: 'p', requestId, wait: 120 }) as Promise<Claimed>;
    const c3 = await claim(op, 'hp-claim-0001');
    const retries = await Promise.all([claim(op, 'hp-claim-0001'), claim(op, 'hp-claim-0001')]);
    for (const r of retries) expect(r).toMatchObject({ vm: { id: c3.vm.id }, host: c3.host, replayed: true });
    // another user's same id is their own request: their own child
    const op2 = { kind: 'session', name: 'op-2', role: 'operator' } as const;
    const d = await claim(op2, 'hp-claim-0001');
    expect([c1.vm.id, c2.vm.id, c3.vm.id]).not.toContain(d.vm.id);
    await svc.vms.removeVm(op, { ref: d.vm.id, force: true });
    await svc.vms.releaseVm(op, { ref: c3.vm.id });
    await expect(claim(op, 'hp-claim-0001')).rejects.toThrow(/which has been released since; claim again with a new request id/);
    // size 4 with 2 claimed leaves room for 2 spares: the planner sends the new shares, the hosts refill to them
    const after = await waitFor('2 spares and 2 claimed', async () => {
      const x = await view();
      return x.claimed === 2 && x.ready === 2 && x.refilling === 0 ? x : null;
    }, 120_000, logs);
    expect(after.members.filter((m) => m.state === 'claimed').map((m) => m.vmId).sort()).toEqual([c1.vm.id, c2.vm.id].sort());
    // release on the child's host (reset: back to a spare), then the other is removed like any VM
    const rel = (await svc.vms.releaseVm(op, { ref: c1.vm.id })) as { host: string; action: string };
    expect(rel).toMatchObject({ host: c1.host, action: 'reset' });
    await svc.vms.removeVm(op, { ref: c2.vm.id, force: true });
    await waitFor('3 spares again, none claimed', async () => {
      const x = await view();
      return x.claimed === 0 && x.ready === 3 && x.refilling === 0 && x.members.length === 3;
    }, 120_000, logs);
  });

  it('a SIGKILLed agent: its spares are replaced on other hosts, and removed (never handed out) when it comes back', async () => {
    const v0 = await view();
    const victim = v0.hosts.find((h) => h.ready > 0)!.host;
    const stale = await runningSpares(victim);
    expect(stale.length).toBeGreaterThan(0);
    const stalePids = (await pg.query(`SELECT pid FROM host_${victim}."Vm" WHERE id = ANY($1)`, [stale])).rows.map((r) => Number(r.pid));
    const a = byName[victim];
    a.proc!.kill('SIGKILL');
    await waitFor(`${victim} lost`, async () => (await H.hostRow(victim)).state === 'lost', 30_000);
    const moved = await waitFor('3 spares ready on the other hosts', async () => {
      const x = await view();
      return x.hosts.filter((h) => h.host !== victim).reduce((n, h) => n + h.ready, 0) === 3 ? x : null;
    }, 120_000, logs);
    expect(moved.members.filter((m) => m.host === victim).every((m) => m.state === 'lost')).toBe(true);
    // claims skip the lost host
    const c = await svc.pools.claimFromPool(op, { ref: 'p' });
    expect(c.host).not.toBe(victim);
    await svc.vms.removeVm(op, { ref: c.vm.id, force: true });
    // its agent comes back: the queued share job (0 spares) removes the stale spares and their QEMUs
    a.log.length = 0;
    startLocalAgent(a);
    await waitFor(`${victim} back`, async () => (await H.hostRow(victim)).state === 'ready', 180_000, logs);
    // while its stale spares exist it is fenced: no share, so no claim is sent there
    const share = JSON.parse((await pg.query(`SELECT shares FROM public."ClusterPool" WHERE name = 'p'`)).rows[0].shares)[victim];
    if ((await pg.query(`SELECT 1 FROM host_${victim}."Vm" WHERE id = ANY($1)`, [stale])).rowCount) expect(share).toMatchObject({ spares: 0, fenced: true });
    await waitFor(`${victim}'s stale spares removed`, async () => (await pg.query(`SELECT 1 FROM host_${victim}."Vm" WHERE id = ANY($1)`, [stale])).rowCount === 0, 120_000, logs);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('their QEMUs gone', async () => !stalePids.some(alive), 30_000, logs);
    // back in the spread: the pool holds 3 fresh spares again, none of them a stale one
    const back = await waitFor('3 spares again', async () => {
      const x = await view();
      return x.ready === 3 && x.refilling === 0 && x.members.length === 3 ? x : null;
    }, 120_000, logs);
    expect(back.members.filter((m) => stale.includes(m.vmId))).toEqual([]);
    expect(back.claimed).toBe(0);
  });

  it('draining a host moves its spares to the others but not a pinned pool\'s (it says why); a push reaches every host', async () => {
    const v0 = await view();
    const drained = v0.hosts.filter((h) => h.ready > 0).sort((x, y) => y.ready - x.ready)[0].host;
    const other = ['a', 'b', 'c'].find((h) => h !== drained)!;
    // the template to push, prepared meanwhile on another host (only there: the push copies it)
    const C = await import('../../lib/cluster/dispatch');
    const web2 = C.routePrepare(clusterPrepareSchema.parse({ host: other, image: 'tiny', name: 'web2', memory: 128 }), 'test');
    web2.catch(() => undefined);
    // a pool pinned to the host to be drained: its spare is made there, and only there
    await svc.pools.createPool(op, { name: 'pin', template: 'web', size: 1, spares: 1, host: drained });
    const pinView = async () => (await svc.pools.getPool(op, { ref: 'pin' })) as View;
    await waitFor(`the pinned spare on ${drained}`, async () => {
      const x = await pinView();
      return x.ready === 1 && x.members.every((m) => m.host === drained);
    }, 120_000, logs);
    await H.setDrain(drained, true);
    try {
      const v = await waitFor(`spares moved off ${drained}`, async () => {
        const x = await view();
        return x.ready === 3 && x.refilling === 0 && !x.members.some((m) => m.host === drained) ? x : null;
      }, 180_000, logs);
      expect(new Set(v.members.map((m) => m.host)).size).toBeGreaterThanOrEqual(1);
      // the pinned pool did not move: its spare stays, and the pool says why no other host takes it
      const pin = await pinView();
      expect(pin.members.map((m) => [m.host, m.state])).toEqual([[drained, 'spare']]);
      expect(pin.error).toBe(`Pool "pin" is pinned to host "${drained}", which is draining: its spares stay there and are not made elsewhere; bring the host back (\`instaclone hosts ready ${drained}\` for a drained one) or remove the pool and create it without --host.`);
      await svc.pools.removePool(op, { ref: 'pin' });
      await waitFor(`no QEMU left on ${drained}`, async () => qemuPids(byName[drained].run).length === 0, 30_000, logs);
    } finally {
      await H.setDrain(drained, false);
    }
    // push: every host holding spares gets the new template (copied there first) and rolls to it
    await web2;
    const before = new Set((await view()).members.map((m) => m.host));
    await svc.pools.pushPool(op, { ref: 'p', template: 'web2' });
    const tpl2 = (await C.locateTemplate('web2')).id;
    const pushed = await waitFor('every spare on web2', async () => {
      const x = await view();
      return x.push === null && x.ready === 3 && x.refilling === 0 && x.members.length === 3 && x.members.every((m) => m.templateId === tpl2) ? x : null;
    }, 240_000, logs);
    const hosts2 = (await C.locateTemplate('web2')).hosts.map((h) => h.name);
    for (const h of before) expect(hosts2).toContain(h); // copied to each host that held spares
    expect(new Set(pushed.members.map((m) => m.host)).size).toBeGreaterThanOrEqual(Math.min(2, before.size));
    // each host reports its memory in use with its heartbeat, and its QEMUs' PSS (sampled every 2 s here, 30 s by default)
    const { hostsView } = await import('../../lib/cluster/views');
    const { Engine } = await import('../../lib/engine');
    const busy = [...new Set(pushed.members.map((m) => m.host))];
    const hv = await waitFor('QEMU PSS reported by the hosts with spares', async () => {
      const x = (await hostsView(Engine.get())).hosts;
      return busy.every((n) => (x.find((h) => h.name === n)?.qemuPssBytes ?? 0) > 0) ? x : null;
    }, 60_000, logs);
    for (const h of hv) {
      expect(h.memoryUsedBytes).toBeGreaterThan(0);
      expect(h.memoryUsedBytes).toBeLessThanOrEqual(h.memoryBytes);
      if (busy.includes(h.name)) expect(h.qemuPssBytes!).toBeLessThan(h.memoryUsedBytes!);
    }
    // removing the pool removes every host's share
    const r = (await svc.pools.removePool(op, { ref: 'p' })) as { removed: boolean };
    expect(r.removed).toBe(true);
    for (const h of ['a', 'b', 'c']) expect((await pg.query(`SELECT 1 FROM host_${h}."Pool"`)).rowCount).toBe(0);
    expect((await pg.query(`SELECT 1 FROM public."ClusterPool"`)).rowCount).toBe(0);
  });
});
