// Bridged mode end to end (issue 5): a template and two children whose QEMUs run inside a network
// namespace this test creates (never the machine's real interfaces), with tap devices on a bridge
// there. After the fork each child has its own pool address and MAC, and they ping each other and
// the bridge by their new addresses. Needs root, `ip netns` and /dev/net/tun; skipped otherwise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { need, when } from '../strict';
import { netnsAvailable, stopEverything } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const canNetns = netnsAvailable();

const ns = `icbr${process.pid}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-bridge-'));
const runRoot = fs.mkdtempSync(path.join('/dev/shm', 'ic-bridge-'));
// mkdtemp makes it 0700: the per-VM QEMU uids must be able to pass through it to their run dirs
fs.chmodSync(runRoot, 0o711);
let engine: import('../../lib/engine').Engine;
let kids: { id: string; name: string; ip: string; mac: string }[] = [];

describe.runIf(when(canNetns))('bridged children in a private network namespace', () => {
  beforeAll(async () => {
    need(canNetns, 'bridged networking needs root, `ip netns` and /dev/net/tun');
    execFileSync('ip', ['netns', 'add', ns], { timeout: 60_000 });
    const ipn = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { timeout: 60_000 });
    ipn('link', 'set', 'lo', 'up');
    ipn('link', 'add', 'icbr0', 'type', 'bridge');
    ipn('addr', 'add', '10.77.0.1/16', 'dev', 'icbr0');
    ipn('link', 'set', 'icbr0', 'up');
    // QEMU must run in the namespace to open its tap there
    const wrapper = path.join(root, 'qemu-in-netns');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} qemu-system-x86_64 "$@"\n`, { mode: 0o755 });
    Object.assign(process.env, {
      INSTACLONE_IMAGE_CACHE: process.env.INSTACLONE_IMAGE_CACHE ?? path.join(os.homedir(), '.cache', 'instaclone', 'images'),
      INSTACLONE_HOME: path.join(root, 'home'),
      INSTACLONE_RUN: path.join(runRoot, 'run'),
      INSTACLONE_QEMU: wrapper,
      INSTACLONE_NET: 'bridge',
      INSTACLONE_BRIDGE: 'icbr0',
      INSTACLONE_NETNS: ns,
    });
    delete process.env.DATABASE_URL;
    delete process.env.INSTACLONE_NET_POOL;
    const { migrate } = await import('../../lib/db');
    await migrate();
    const { Engine } = await import('../../lib/engine/index');
    engine = Engine.get();
    await engine.start();
    await engine.prepare(prepareSchema.parse({ image: 'tiny', name: 'brt' }));
    const r = await engine.fork('brt', forkSchema.parse({ count: 2, prefix: 'br' }));
    kids = r.children.map((c: any) => ({ id: c.id, name: c.name, ip: c.identity.ip, mac: c.identity.mac }));
  }, 900_000);

  afterAll(async () => {
    await stopEverything(runRoot);
    try {
      execFileSync('ip', ['netns', 'del', ns], { timeout: 60_000 });
    } catch {
      /* gone */
    }
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(runRoot, { recursive: true, force: true });
  }, 120_000);

  it('children get distinct pool addresses and MACs on the bridge', () => {
    expect(kids).toHaveLength(2);
    for (const k of kids) expect(k.ip).toMatch(/^10\.77\.\d+\.\d+$/);
    expect(kids[0].ip).not.toBe(kids[1].ip);
    expect(kids[0].mac).not.toBe(kids[1].mac);
    const links = execFileSync('ip', ['-n', ns, '-o', 'link', 'show', 'master', 'icbr0'], { timeout: 60_000, encoding: 'utf8' });
    expect(links.trim().split('\n').length).toBeGreaterThanOrEqual(2);
  });

  it('children ping each other and the bridge by their new addresses', async () => {
    const [a, b] = kids;
    for (const [from, to] of [
      [a, b.ip],
      [b, a.ip],
      [a, '10.77.0.1'],
    ] as const) {
      const r = await engine.exec(from.id, execSchema.parse({ command: ['/bin/ping', '-c', '2', '-W', '3', to], timeoutMs: 20_000 }));
      expect(r.exitCode, `${from.name} -> ${to}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/2 packets received|[12] packets received/);
    }
    // the host side (the namespace) learned each child's new MAC (gratuitous ARP / traffic)
    const neigh = execFileSync('ip', ['-n', ns, 'neigh', 'show', 'dev', 'icbr0'], { timeout: 60_000, encoding: 'utf8' });
    expect(neigh).toContain(`${a.ip} lladdr ${a.mac}`);
  });
});
