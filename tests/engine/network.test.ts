// network.ts: address leases (in memory and in the database, surviving a restart), MACs, forwarded
// host ports, the clear errors (exhausted pool, taken port, exhausted port range), QEMU arguments,
// and bridged mode: children on a bridge inside a network namespace this test creates (never the
// machine's real interfaces), pinging each other by their new addresses.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { need, when } from '../strict';
import { netnsAvailable } from './engine-env';
import { EngineError } from '../../lib/engine/errors';
import {
  allocateNetwork,
  heldNetworks,
  memoryNetworkStore,
  netdevArgs,
  releaseNetwork,
  setNetworkStore,
  tapName,
} from '../../lib/engine/network';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-network-'));
const savedEnv = { ...process.env };

afterEach(async () => {
  for (const id of heldNetworks().keys()) await releaseNetwork(id);
  for (const k of ['INSTACLONE_NET', 'INSTACLONE_BRIDGE', 'INSTACLONE_NET_POOL', 'INSTACLONE_PORT_RANGE', 'INSTACLONE_NETNS']) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});
afterAll(() => {
  setNetworkStore(null);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('user mode allocation (memory store)', () => {
  beforeAll(() => setNetworkStore(memoryNetworkStore()));

  it('gives 50 VMs distinct addresses, MACs and host ports; the same VM keeps its address', async () => {
    process.env.INSTACLONE_PORT_RANGE = '32000-32999';
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => allocateNetwork(`vm${i}`)));
    expect(new Set(all.map((a) => a.ip)).size).toBe(50);
    expect(new Set(all.map((a) => a.mac)).size).toBe(50);
    const ports = all.flatMap((a) => Object.values(a.hostPorts));
    expect(new Set(ports).size).toBe(100);
    for (const a of all) {
      expect(a.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
      expect(a.ip).toMatch(/^10\.1\.\d+\.\d+$/);
      expect(Object.keys(a.hostPorts).sort()).toEqual(['22', '80']);
      expect(a).toMatchObject({ prefixLen: 8, gateway: '10.0.2.2', mode: 'user' });
    }
    const again = await allocateNetwork('vm7');
    expect(again.ip).toBe(all[7].ip);
    expect(again.mac).toBe(all[7].mac);
    await releaseNetwork('vm7');
    const fresh = await allocateNetwork('vm-new');
    expect(fresh.ip).toBe(all[7].ip); // the freed address is reused
  });

  it('a parent keeps the image address and takes no lease', async () => {
    const p = await allocateNetwork('parent1', { parent: true, forwardPorts: [80] });
    expect(p).toMatchObject({ ip: '10.0.2.15', prefixLen: 24, gateway: '10.0.2.2' });
    const c = await allocateNetwork('child1');
    expect(c.ip).not.toBe('10.0.2.15');
  });

  it('an exhausted pool is a clear "insufficient" error', async () => {
    process.env.INSTACLONE_NET_POOL = '10.1.0.0/29'; // .1 … .6
    for (let i = 0; i < 6; i++) await allocateNetwork(`p${i}`, { forwardPorts: [] });
    const err: any = await allocateNetwork('p6', { forwardPorts: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('insufficient');
    expect(err.message).toBe(
      'The address pool 10.1.0.0/29 is exhausted (6 addresses leased): remove children you no longer need, or set INSTACLONE_NET_POOL to a larger network.',
    );
    await releaseNetwork('p3');
    expect((await allocateNetwork('p6', { forwardPorts: [] })).ip).toBe('10.1.0.4');
  });

  it('a pool outside the user network is refused', async () => {
    process.env.INSTACLONE_NET_POOL = '192.168.0.0/24';
    const err: any = await allocateNetwork('x').catch((e: unknown) => e);
    expect(err.code).toBe('invalid');
    expect(err.message).toMatch(/must lie inside 10\.0\.0\.0\/8/);
  });

  it('skips ports other programs hold; a requested taken port is a clear "conflict" error', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const busy = (srv.address() as net.AddressInfo).port;
    try {
      process.env.INSTACLONE_PORT_RANGE = `${busy}-${busy + 1}`; // the scan starts at a random place: leave one free port
      const a = await allocateNetwork('a', { forwardPorts: [80] });
      expect(a.hostPorts[80]).toBe(busy + 1);
      const err: any = await allocateNetwork('b', { hostPorts: { 80: busy } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(err.code).toBe('conflict');
      expect(err.message).toBe(
        `Host port ${busy} (for guest port 80) is already in use on 127.0.0.1: choose another port, or leave it out to get a free one.`,
      );
      const err2: any = await allocateNetwork('c', { hostPorts: { 22: busy + 1 } }).catch((e: unknown) => e);
      expect(err2.code).toBe('conflict'); // held by VM a
      expect(heldNetworks().has('b')).toBe(false);
      const d = await allocateNetwork('d', { forwardPorts: [], hostPorts: { 8080: busy + 5 } });
      expect(d.hostPorts).toEqual({ 8080: busy + 5 });
    } finally {
      srv.close();
    }
  });

  it('an exhausted port range is a clear "insufficient" error', async () => {
    process.env.INSTACLONE_PORT_RANGE = '33100-33102';
    await allocateNetwork('a', { forwardPorts: [80, 22] });
    const err: any = await allocateNetwork('b', { forwardPorts: [80, 22] }).catch((e: unknown) => e);
    expect(err.code).toBe('insufficient');
    expect(err.message).toMatch(/No free host port left in 33100-33102 to forward guest port 22/);
    expect(heldNetworks().has('b')).toBe(false);
  });

  it('builds the QEMU arguments', () => {
    // isolated by default: restrict=on (no way to the host's loopback through 10.0.2.2), forwards still come in
    expect(netdevArgs({ mac: '52:54:00:AA:bb:01', ip: '10.1.0.9', hostPorts: { 80: 20001, 22: 20002 } })).toEqual([
      '-netdev',
      'user,id=net0,net=10.0.0.0/8,host=10.0.2.2,dns=10.0.2.3,restrict=on,hostfwd=tcp:127.0.0.1:20002-10.1.0.9:22,hostfwd=tcp:127.0.0.1:20001-10.1.0.9:80',
      '-device',
      'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01',
    ]);
    expect(netdevArgs({ mac: '52:54:00:AA:bb:01', ip: '10.1.0.9', hostPorts: { 80: 20001 } }, 'user', 'outbound')[1]).toBe(
      'user,id=net0,net=10.0.0.0/8,host=10.0.2.2,dns=10.0.2.3,hostfwd=tcp:127.0.0.1:20001-10.1.0.9:80',
    );
    expect(netdevArgs({ mac: '52:54:00:aa:bb:01', ip: '10.77.0.9', hostPorts: {}, tap: 'ic123' }, 'bridge')).toEqual([
      '-netdev',
      'tap,id=net0,ifname=ic123,script=no,downscript=no',
      '-device',
      'virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01',
    ]);
    expect(() => netdevArgs({ mac: 'nope', ip: '10.1.0.1', hostPorts: {} })).toThrow(/not a MAC/);
  });
});

describe('leases in the database', () => {
  it('survive a restart: a new process state never hands out a leased address again', async () => {
    process.env.INSTACLONE_HOME = path.join(root, 'home');
    process.env.DATABASE_URL = `file:${path.join(root, 'home', 'net.db')}`;
    const { migrate, disconnectDb, db } = await import('../../lib/db');
    await migrate();
    try {
      const { prismaNetworkStore } = await import('../../lib/engine/network');
      setNetworkStore(prismaNetworkStore());
      process.env.INSTACLONE_NET_POOL = '10.1.0.0/29';
      const a = await allocateNetwork('vmA', { forwardPorts: [] });
      const b = await allocateNetwork('vmB', { forwardPorts: [] });
      expect(await db().lease.count()).toBe(2);
      // "restart": forget the in-process state, keep the database
      (globalThis as any).__instacloneNet.held.clear();
      setNetworkStore(prismaNetworkStore());
      const c = await allocateNetwork('vmC', { forwardPorts: [] });
      expect([a.ip, b.ip]).not.toContain(c.ip);
      expect((await allocateNetwork('vmA', { forwardPorts: [] })).ip).toBe(a.ip);
      await releaseNetwork('vmB');
      expect(await db().lease.findUnique({ where: { vmId: 'vmB' } })).toBeNull();
    } finally {
      setNetworkStore(memoryNetworkStore());
      await disconnectDb();
      delete process.env.DATABASE_URL;
      delete process.env.INSTACLONE_HOME;
    }
  });
});

// ------------------------------------------------------------------------------------------------
// bridged mode, only inside a namespace of our own

const canNetns = netnsAvailable();

describe.runIf(when(canNetns))('bridge mode in a private network namespace', () => {
  const ns = `ictest${process.pid}`;
  beforeAll(() => {
    need(canNetns, 'bridged networking needs root, `ip netns` and /dev/net/tun');
    execFileSync('ip', ['netns', 'add', ns], { timeout: 60_000 });
    const ipn = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { timeout: 60_000 });
    ipn('link', 'set', 'lo', 'up');
    ipn('link', 'add', 'icbr0', 'type', 'bridge');
    ipn('addr', 'add', '10.77.0.1/16', 'dev', 'icbr0');
    ipn('link', 'set', 'icbr0', 'up');
  });
  afterAll(() => {
    try {
      execFileSync('ip', ['netns', 'del', ns], { timeout: 60_000 });
    } catch {
      /* already gone */
    }
  });

  it('makes a tap per VM on the bridge, addresses from the pool, and removes the tap on release', async () => {
    setNetworkStore(memoryNetworkStore());
    Object.assign(process.env, { INSTACLONE_NET: 'bridge', INSTACLONE_BRIDGE: 'icbr0', INSTACLONE_NETNS: ns });
    const a = await allocateNetwork('brA');
    const b = await allocateNetwork('brB');
    expect(a).toMatchObject({ mode: 'bridge', gateway: '10.77.0.1', prefixLen: 16, hostPorts: {} });
    expect(a.ip).toBe('10.77.0.2'); // .1 is the bridge
    expect(b.ip).toBe('10.77.0.3');
    expect(a.tap).toBe(tapName('brA'));
    const links = execFileSync('ip', ['-n', ns, '-o', 'link', 'show', 'master', 'icbr0'], { timeout: 60_000, encoding: 'utf8' });
    expect(links).toContain(a.tap!);
    expect(links).toContain(b.tap!);
    // never on the machine's own interfaces
    expect(execFileSync('ip', ['-o', 'link', 'show'], { timeout: 60_000, encoding: 'utf8' })).not.toContain(a.tap!);
    expect(netdevArgs(a, 'bridge')[1]).toBe(`tap,id=net0,ifname=${a.tap},script=no,downscript=no`);
    await releaseNetwork('brA');
    expect(execFileSync('ip', ['-n', ns, '-o', 'link', 'show'], { timeout: 60_000, encoding: 'utf8' })).not.toContain(a.tap!);
  });
});
