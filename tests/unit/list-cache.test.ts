// `ls` is computed once per change: Engine.list keeps its answer until the next database write
// through the engine's client (lib/db counts them), and never serves an answer older than one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-ls-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, db, dbWriteCount, disconnectDb } = await import('@/lib/db');
const { Engine } = await import('@/lib/engine');

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

const vm = (i: number) => ({ id: `vm_${i}`, name: `c-${i}`, kind: 'child', state: 'running', image: 'tiny', memoryMiB: 256, runDir: `/x/${i}`, templateId: 'tpl_a' });

describe('ls once per change', () => {
  it('answers from its cache until a write, then sees the write', async () => {
    const e = Engine.get();
    await db().template.create({ data: { id: 'tpl_a', name: 'a', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d' } });
    await db().vm.create({ data: vm(1) });
    const first = await e.list();
    expect(first.vms.map((v) => v.name)).toEqual(['c-1']);
    expect(await e.list()).toBe(first); // no write: the same answer, not a new query

    const w = dbWriteCount();
    await db().vm.create({ data: vm(2) });
    expect(dbWriteCount()).toBe(w + 1);
    expect((await e.list()).vms.map((v) => v.name)).toEqual(['c-1', 'c-2']);

    await db().vm.update({ where: { id: 'vm_1' }, data: { state: 'crashed' } });
    expect((await e.list()).vms.find((v) => v.id === 'vm_1')?.state).toBe('crashed');

    await db().vm.deleteMany({ where: { id: 'vm_2' } });
    expect((await e.list()).vms.map((v) => v.name)).toEqual(['c-1']);
  });

  it('counts raw SQL as a write (the pool claim updates in raw SQL)', async () => {
    const e = Engine.get();
    await e.list();
    const w = dbWriteCount();
    await db().$executeRaw`UPDATE "Vm" SET "state" = 'stopped' WHERE "id" = 'vm_1'`;
    expect(dbWriteCount()).toBe(w + 1);
    expect((await e.list()).vms.find((v) => v.id === 'vm_1')?.state).toBe('stopped');
  });

  it('counts a write that fails too (the answer is recomputed, never wrongly kept)', async () => {
    const w = dbWriteCount();
    await expect(db().vm.create({ data: vm(1) })).rejects.toThrow(); // duplicate id
    expect(dbWriteCount()).toBe(w + 1);
  });
});
