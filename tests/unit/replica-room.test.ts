// Room for replicas on an agent (lib/cluster/replica-room): the eviction plan (least recently used
// first, only as much as needed, null when even all would not do), the capped free space, and which
// templates count as unused replicas (marked copies with no VM, derived template or pool) on SQLite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-room-'));
process.env.INSTACLONE_HOME = path.join(base, 'home');
process.env.INSTACLONE_RUN = path.join(base, 'run'); // a plain dir is enough: only sizes are read
process.env.DATABASE_URL = `file:${base}/db.sqlite`;
process.env.INSTACLONE_TEMPLATE_STORE_MIB = '10';

const { migrate, db, disconnectDb } = await import('@/lib/db');
const { planEviction, templateRoom, unusedReplicas, REPLICA_MARK } = await import('@/lib/cluster/replica-room');
const { paths } = await import('@/lib/engine/paths');

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(base, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const c = (id: string, mib: number, lastUsed: number) => ({ id, name: id, bytes: mib * MiB, lastUsed });

describe('replica room', () => {
  it('plans the least recently used evictions that make the need fit, and nothing when it fits', () => {
    const cands = [c('new', 4, 300), c('old', 4, 100), c('mid', 4, 200)];
    expect(planEviction(3 * MiB, 3 * MiB, cands)).toEqual([]);
    expect(planEviction(6 * MiB, 3 * MiB, cands)!.map((x) => x.id)).toEqual(['old']);
    expect(planEviction(10 * MiB, 1 * MiB, cands)!.map((x) => x.id)).toEqual(['old', 'mid', 'new']);
    expect(planEviction(14 * MiB, 1 * MiB, cands)).toBeNull(); // even all of them leave it short
    expect(planEviction(1, 0, [])).toBeNull();
  });

  /** A frozen template with a RAM file of `mib` MiB; a replica when `replica`. */
  async function template(id: string, mib: number, replica: boolean, frozenAt: Date) {
    fs.mkdirSync(paths.templateRunDir(id), { recursive: true });
    fs.mkdirSync(paths.templateHomeDir(id), { recursive: true });
    fs.writeFileSync(paths.templateRam(id), Buffer.alloc(mib * MiB));
    if (replica) fs.writeFileSync(path.join(paths.templateHomeDir(id), REPLICA_MARK), 'a\n');
    await db().template.create({
      data: { id, name: id, state: 'frozen', image: 'tiny', memoryMiB: mib, dir: paths.templateHomeDir(id), ramPath: paths.templateRam(id), statePath: '/x/s', diskPath: '/x/d', frozenAt },
    });
  }

  it('counts the RAM files against INSTACLONE_TEMPLATE_STORE_MIB and offers only unused replicas, by last fork', async () => {
    const t0 = Date.now() - 10 * 3600_000;
    await template('own', 2, false, new Date(t0)); // prepared here: never evicted
    await template('used', 2, true, new Date(t0)); // a replica with a child
    await template('idle', 2, true, new Date(t0 + 1000)); // copied later, forked long ago
    await template('busy', 2, true, new Date(t0)); // copied early, forked recently
    await template('forking', 2, true, new Date(t0)); // a fork under way (no VM row yet)
    await db().forkRequest.create({ data: { key: 'req-forking-1', templateId: 'forking', state: 'running' } });
    await db().vm.create({ data: { id: 'vm_1', name: 'c-1', kind: 'child', state: 'running', image: 'tiny', memoryMiB: 2, runDir: '/x/1', templateId: 'used' } });
    await db().forkRequest.create({ data: { key: 'req-busy-1', templateId: 'busy', state: 'succeeded', createdAt: new Date(t0 + 3600_000), endedAt: new Date() } });
    const room = templateRoom();
    expect(room).toMatchObject({ used: 10 * MiB, cap: 10 * MiB, free: 0 });
    const cands = await unusedReplicas();
    expect(cands.map((x) => x.id).sort()).toEqual(['busy', 'idle']);
    expect(cands.find((x) => x.id === 'busy')!.lastUsed).toBe(t0 + 3600_000);
    // 1 MiB needed, none free: the least recently used unused replica goes first
    expect(planEviction(1 * MiB, room.free, cands)!.map((x) => x.id)).toEqual(['idle']);
    expect(planEviction(5 * MiB, room.free, cands)).toBeNull();
  });
});
