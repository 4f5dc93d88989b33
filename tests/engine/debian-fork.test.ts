// Issue 14: the built-in `debian` image (a real distribution without our identity helper) forks:
// its children are customised through the stock qemu-guest-agent, prove their identity from inside,
// and its web service answers on each child's forwarded port with that child's hostname.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupEnv, teardownEnv, type EngineEnv } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

// as tests/guest/images.test.ts: the debian image is built (debootstrap, root) in CI or when cached
const cache = process.env.INSTACLONE_IMAGE_CACHE ?? path.join(os.homedir(), '.cache', 'instaclone', 'images');
const run = fs.existsSync(path.join(cache, 'debian', 'manifest.json')) || process.env.INSTACLONE_TEST_DEBIAN === '1';

let env: EngineEnv;
let engine: import('../../lib/engine').Engine;
let kids: { id: string; name: string; ports: Record<string, number>; verified: any }[] = [];

beforeAll(async () => {
  if (!run) return;
  env = setupEnv('debfork');
  const { migrate } = await import('../../lib/db');
  await migrate();
  const E = await import('../../lib/engine/index');
  engine = E.Engine.get();
  await engine.start();
  await engine.prepare(prepareSchema.parse({ image: 'debian', name: 'deb', memory: 384 }));
  const r = await engine.fork('deb', forkSchema.parse({ count: 3, prefix: 'deb' }));
  for (const c of r.children) {
    const v: any = await engine.get(c.id);
    kids.push({ id: c.id, name: c.name, ports: v.ports, verified: v.verified });
  }
  console.log(`debian fork of 3: ${r.timings.totalMs} ms, per child ${r.timings.perChildMs.join(', ')} ms`);
}, 1_800_000);

afterAll(async () => {
  if (env) await teardownEnv(env);
}, 120_000);

describe.runIf(run)('forking the built-in debian image (issue 14)', () => {
  it('uses the stock agent and a static address on the primary interface', async () => {
    const t: any = await engine.get('deb');
    expect(t.compat.network).toMatchObject({ manager: 'systemd-networkd', dhcp: false, method: 'static', iface: 'eth0' });
    for (const k of kids) expect(k.verified.method).toBe('agent');
  });

  it('three children with distinct identities, proven from inside', async () => {
    for (const key of ['hostname', 'mac', 'ip', 'machineId', 'vmgenid', 'urandomHex']) {
      expect(new Set(kids.map((k) => k.verified[key])).size, key).toBe(3);
    }
    for (const k of kids) {
      const r: any = await engine.exec(k.id, execSchema.parse({ command: ['/bin/sh', '-c', 'cat /proc/sys/kernel/hostname /etc/machine-id /sys/class/net/eth0/address; ip -4 -o addr show dev eth0'] }));
      const [hn, mid, mac, addr] = String(r.stdout).trim().split('\n');
      expect([hn, mid, mac]).toEqual([k.name, k.verified.machineId, k.verified.mac]);
      expect(addr).toContain(`inet ${k.verified.ip}/8`);
      expect(Math.abs(k.verified.clockSkewMs)).toBeLessThan(2000);
    }
  });

  it("each child's web service answers on its own forwarded port", async () => {
    for (const k of kids) {
      const body = await (await fetch(`http://127.0.0.1:${k.ports['80']}/`, { signal: AbortSignal.timeout(20_000) })).text();
      expect(body).toContain(`hostname: ${k.name}\n`);
    }
  });
});
