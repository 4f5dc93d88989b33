import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-health-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = path.join(home, 'run');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

describe('/api/health facts', () => {
  beforeAll(async () => {
    const { migrate } = await import('@/lib/db');
    await migrate();
  });
  afterAll(async () => {
    const { disconnectDb } = await import('@/lib/db');
    await disconnectDb();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('reports the database, the real QEMU version and KVM as this machine has them', async () => {
    const { GET } = await import('@/app/api/health/route');
    const res = await GET();
    const h = await res.json();
    const real = /version (\S+)/.exec(execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }))![1];
    expect(h.qemu).toMatchObject({ ok: true, version: real });
    expect(h.database).toMatchObject({ ok: true, kind: 'sqlite' });
    const { detectAccel } = await import('@/lib/engine/argv');
    expect(h.kvm.available).toBe(detectAccel() === 'kvm');
    if (!fs.existsSync('/dev/kvm')) expect(h.kvm.available).toBe(false);
    expect(h.home).toMatchObject({ path: home, writable: true });
    expect(h.memory.totalBytes).toBeGreaterThan(0);
    expect(res.status).toBe(200);
  });
});
