import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-health-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = path.join(home, 'run');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;
fs.mkdirSync(process.env.INSTACLONE_RUN, { mode: 0o700 });

const get = (headers: Record<string, string> = {}) => new Request('http://console.test/api/health', { headers: { host: 'console.test', ...headers } });

describe('/api/health facts', () => {
  let bearer: Record<string, string>;
  beforeAll(async () => {
    const { migrate } = await import('@/lib/db');
    await migrate();
    const { createToken } = await import('@/lib/auth/tokens');
    bearer = { authorization: `Bearer ${(await createToken('health', 'viewer')).secret}` };
  }, 60_000);
  afterAll(async () => {
    const { disconnectDb } = await import('@/lib/db');
    await disconnectDb();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('reports the database, the real QEMU version and KVM as this machine has them to a signed-in caller', async () => {
    const { GET } = await import('@/app/api/health/route');
    const res = await GET(get(bearer));
    const h = await res.json();
    const real = /version (\S+)/.exec(execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }))![1];
    expect(h.qemu).toMatchObject({ ok: true, version: real });
    expect(h.database).toMatchObject({ ok: true, kind: 'sqlite' });
    const { detectAccel } = await import('@/lib/engine/argv');
    expect(h.kvm.available).toBe(detectAccel() === 'kvm');
    if (!fs.existsSync('/dev/kvm')) expect(h.kvm.available).toBe(false);
    expect(h.home).toMatchObject({ path: home, writable: true });
    expect(h.memory.totalBytes).toBeGreaterThan(0);
    // KSM: the mode (default auto), what it saves and, when ksmd is not merging, why (the engine test
    // may start ksmd meanwhile, so the report is checked against itself, not a second sysfs read)
    expect(h.ksm).toMatchObject({ mode: process.env.INSTACLONE_KSM || 'auto', running: expect.any(Boolean), savedBytes: expect.any(Number) });
    if (!h.ksm.running) expect(h.ksm.reason).toMatch(/stopped|no KSM|INSTACLONE_KSM=off/);
    expect(res.status).toBe(200);
  });

  it('tells an anonymous caller only {ok}, from a cached result: no QEMU started and no file written per call', async () => {
    // a QEMU stand-in that counts its starts
    const counter = path.join(home, 'qemu-starts');
    const fake = path.join(home, 'fake-qemu');
    fs.writeFileSync(fake, `#!/bin/sh\necho x >> ${counter}\necho "QEMU emulator version 7.2.0"\n`, { mode: 0o755 });
    // a planted symlink where the old code wrote its probe: following it would truncate the target
    const victim = path.join(home, 'victim');
    fs.writeFileSync(victim, 'secret');
    for (const dir of [home, process.env.INSTACLONE_RUN!]) fs.symlinkSync(victim, path.join(dir, `.write-probe-${process.pid}`));
    const saved = process.env.INSTACLONE_QEMU;
    process.env.INSTACLONE_QEMU = fake;
    try {
      const { GET } = await import('@/app/api/health/route');
      for (let i = 0; i < 5; i++) {
        const res = await GET(get());
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ ok: true });
      }
      expect(fs.readFileSync(counter, 'utf8').trim().split('\n').length).toBe(1);
      expect(fs.readFileSync(victim, 'utf8')).toBe('secret');
    } finally {
      if (saved === undefined) delete process.env.INSTACLONE_QEMU;
      else process.env.INSTACLONE_QEMU = saved;
    }
  });
});
