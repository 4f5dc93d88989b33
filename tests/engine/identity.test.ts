// Issue 5, end to end against real QEMU (TCG): prepare a tiny template, fork 20 children, and prove
// from inside every guest that hostname, MAC, IP, machine-id, vmgenid and the first /dev/urandom
// read are pairwise distinct and differ from the parent's, that every clock is within 2 s of the
// host's, and that each child's demo page, fetched over its forwarded port, shows its own hostname.
// Plus the clear errors: invalid hostname pattern, exhausted address pool, taken host port.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopEverything, testAdmin } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

process.env.INSTACLONE_IMAGE_CACHE ??= path.join(os.homedir(), '.cache', 'instaclone', 'images');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-identity-'));
const runRoot = fs.mkdtempSync(path.join('/dev/shm', 'ic-identity-'));
// mkdtemp makes it 0700: the per-VM QEMU uids must be able to pass through it to their run dirs
fs.chmodSync(runRoot, 0o711);
process.env.INSTACLONE_HOME = path.join(root, 'home');
process.env.INSTACLONE_RUN = path.join(runRoot, 'run');
delete process.env.DATABASE_URL;
delete process.env.INSTACLONE_NET;
delete process.env.INSTACLONE_NET_POOL;
process.env.INSTACLONE_PORT_RANGE = '31000-31999';

type EngineMod = typeof import('../../lib/engine/index');
type NetMod = typeof import('../../lib/engine/network');
type IdMod = typeof import('../../lib/engine/identity');
let E: EngineMod;
let N: NetMod;
let I: IdMod;
let engine: InstanceType<EngineMod['Engine']>;

const COUNT = 20;
const PARENT_PROBE = 'hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; xxd -p -l 16 /dev/urandom';
let parent: { hostname: string; machineId: string; mac: string; urandomHex: string; ip: string; vmgenid?: string };
let kids: { id: string; name: string; ports: Record<string, number>; verified: any; identity: any }[] = [];
let forkMs = 0;
let perChild: number[] = [];

beforeAll(async () => {
  const { migrate } = await import('../../lib/db');
  await migrate();
  E = await import('../../lib/engine/index');
  N = await import('../../lib/engine/network');
  I = await import('../../lib/engine/identity');
  engine = E.Engine.get();
  await engine.start();
  const prep: any = await engine.prepare(prepareSchema.parse({ image: 'tiny', name: 'idt', warmup: [PARENT_PROBE] }));
  expect(prep.state).toBe('frozen');
  const tpl: any = await engine.get('idt');
  const out: string = (tpl.warmup[0]?.stdout ?? '').trim();
  const [hostname, machineId, mac, urandomHex] = out.split('\n').map((s: string) => s.trim());
  parent = { hostname, machineId, mac, urandomHex, ip: N.PARENT_IP };
  const { db } = await import('../../lib/db');
  const cfg = JSON.parse((await db().template.findUniqueOrThrow({ where: { id: tpl.id } })).config || '{}');
  const vg = JSON.stringify(cfg).match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  if (vg) parent.vmgenid = vg[0];

  const t0 = performance.now();
  const r = await engine.fork('idt', forkSchema.parse({ count: COUNT, prefix: 'kid' }));
  forkMs = performance.now() - t0;
  perChild = r.timings.perChildMs;
  for (const c of r.children) {
    const v: any = await engine.get(c.id);
    kids.push({ id: c.id, name: c.name, ports: v.ports, verified: v.verified, identity: c.identity });
  }
}, 900_000);

afterAll(async () => {
  await stopEverything(runRoot);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(runRoot, { recursive: true, force: true });
}, 120_000);

describe('identity of 20 forked children (issue 5)', () => {
  it('forked 20 running children, each with a verified identity', () => {
    expect(parent.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(kids).toHaveLength(COUNT);
    const ids = kids.map((k) => k.verified);
    console.log(
      `fork of ${COUNT}: ${Math.round(forkMs)} ms; per child ms: ${perChild.join(', ')}\n` +
        `applyIdentity ms: ${ids.map((v) => v.applyMs).join(', ')}\n` +
        `agent calls: ${ids.map((v) => v.agentCalls).join(', ')}; clock skew ms: ${ids.map((v) => v.clockSkewMs).join(', ')}\n` +
        `vmgenid reseed seen by guest: ${ids.filter((v) => v.vmgenidReseedSeen).length}/${COUNT}; vmgenid readable in guest: ${ids.filter((v) => v.vmgenidInGuest).length}/${COUNT}`,
    );
    for (const v of ids) {
      expect(v.entropyReseeded).toBe(true);
      expect(v.vmgenidReseedSeen).toBe(true);
      expect(Math.abs(v.clockSkewMs)).toBeLessThan(2000);
    }
  });

  it('hostnames, MACs, IPs, machine-ids, vmgenids and first urandom reads are pairwise distinct and not the parent\'s', () => {
    const ids = kids.map((k) => k.verified);
    expect(I.findCollisions(ids, parent)).toEqual([]);
    for (const key of ['hostname', 'mac', 'ip', 'machineId', 'vmgenid', 'urandomHex'] as const) {
      const vals = ids.map((v) => String(v[key]).toLowerCase());
      expect(new Set(vals).size, key).toBe(COUNT);
      const pv = (parent as any)[key];
      if (pv) expect(vals, key).not.toContain(String(pv).toLowerCase());
    }
    expect(kids.map((k) => k.verified.hostname).sort()).toEqual(kids.map((k) => k.name).sort());
  });

  it('re-reading inside each guest later still shows its own identity, and every clock is within 2 s', async () => {
    const script =
      'hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0; ' +
      't=$(adjtimex); s=${t#*tv_sec:}; u=${t#*tv_usec:}; echo ${s%%[!0-9 ]*} ${u%%[!0-9 ]*}';
    for (const k of kids) {
      const before = Date.now();
      const r: any = await engine.exec(k.id, execSchema.parse({ command: ['/bin/sh', '-c', script] }));
      const after = Date.now();
      const [hn, mid, mac, ipLine, time] = String(r.stdout).trim().split('\n');
      expect(hn).toBe(k.name);
      expect(mid).toBe(k.verified.machineId);
      expect(mac).toBe(k.verified.mac);
      expect(ipLine).toContain(`inet ${k.verified.ip}/`);
      const [sec, usec] = time.trim().split(/\s+/).map(Number);
      const g = sec * 1000 + usec / 1000;
      const skew = g < before ? g - before : g > after ? g - after : 0;
      expect(Math.abs(skew), `${k.name} clock`).toBeLessThan(2000);
    }
  });

  it("each child's demo page, over its forwarded port, shows that child's hostname", async () => {
    const seen = new Set<number>();
    for (const k of kids) {
      const port = Number(k.ports['80']);
      expect(port).toBeGreaterThan(0);
      expect(seen.has(port)).toBe(false);
      seen.add(port);
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
      const body = await res.text();
      expect(body, k.name).toContain(`hostname: ${k.name}\n`);
      expect(body).toContain(`machine-id: ${k.verified.machineId}`);
    }
  });

  it('an invalid hostname pattern is refused with a clear error', async () => {
    const { forkTemplate } = await import('../../lib/services/templates'); // the door that parses raw input
    const err: any = await forkTemplate(testAdmin, { ref: 'idt', count: 1, prefix: 'Bad_Name' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(E.EngineError);
    expect(err.code).toBe('invalid');
    expect(err.message).toMatch(/prefix/i);
    const err2: any = await I.applyIdentity({} as any, { ...kids[0].verified, hostname: 'x'.repeat(64) }).catch((e: unknown) => e);
    expect(err2.code).toBe('invalid');
    expect(err2.message).toMatch(/not a valid hostname/);
  });

  it('an exhausted address pool gives a clear error and leaves nothing behind', async () => {
    process.env.INSTACLONE_NET_POOL = '10.1.0.0/28'; // 14 addresses, all leased by the 20 children
    try {
      const before = (await engine.list()).vms.length;
      const err: any = await engine.fork('idt', forkSchema.parse({ count: 1, prefix: 'more' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(E.EngineError);
      expect(err.code).toBe('insufficient');
      expect(err.message).toMatch(/address pool 10\.1\.0\.0\/28 is exhausted/);
      expect((await engine.list()).vms.length).toBe(before);
    } finally {
      delete process.env.INSTACLONE_NET_POOL;
    }
  });

  it('a taken host port gives a clear error', async () => {
    const kidPort = Number(kids[0].ports['80']);
    const err: any = await N.allocateNetwork('vm_test_taken', { hostPorts: { 80: kidPort } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(E.EngineError);
    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(new RegExp(`Host port ${kidPort} \\(for guest port 80\\) is already in use`));
    // a port some other program holds
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const other = (srv.address() as net.AddressInfo).port;
    try {
      const err2: any = await N.allocateNetwork('vm_test_taken', { hostPorts: { 22: other } }).catch((e: unknown) => e);
      expect(err2.code).toBe('conflict');
      expect(err2.message).toMatch(new RegExp(`Host port ${other}`));
    } finally {
      srv.close();
      await N.releaseNetwork('vm_test_taken');
    }
  });
});
