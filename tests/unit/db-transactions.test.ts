// Every Prisma transaction on SQLite ends, even when its COMMIT or ROLLBACK fails (lib/db/adapters.ts).
// Prisma's better-sqlite3 adapter kept its transaction lock when that statement failed, so every later
// transaction waited forever (a failed fork on a full disk could not mark its task failed: the CI hang
// in faults-disk). Each call here is raced against a timer so that a regression fails, not hangs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillUp } from '../engine/engine-env';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-dbtx-'));
const home = path.join(base, 'home');
fs.mkdirSync(home);
// as root (CI) the database lives on a small tmpfs of its own, to fill it
const root = process.getuid?.() === 0;
const mounted = root && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', home], { timeout: 60_000 }).status === 0;
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, db, disconnectDb } = await import('@/lib/db');

/** `p`'s outcome, or 'hung' if it has none within `ms` (the old adapter never settled). */
function within<T>(p: Promise<T>, ms = 10_000): Promise<{ ok: T } | { err: string } | 'hung'> {
  let t!: NodeJS.Timeout;
  return Promise.race([
    p.then(
      (ok) => ({ ok }),
      (e: Error) => ({ err: e.message }),
    ),
    new Promise<'hung'>((r) => (t = setTimeout(() => r('hung'), ms))),
  ]).finally(() => clearTimeout(t));
}
const failTask = () => within(db().task.updateMany({ where: { id: 't1' }, data: { state: 'failed' } }).then((r) => r.count));

beforeAll(async () => {
  await migrate();
  await db().task.create({ data: { id: 't1', kind: 'fork', state: 'running' } });
});
afterAll(async () => {
  await disconnectDb();
  if (mounted) spawnSync('umount', [home], { timeout: 60_000 });
  fs.rmSync(base, { recursive: true, force: true });
});

describe('SQLite transactions always end', () => {
  it('a ROLLBACK that finds no transaction (SQLite rolled it back itself) keeps the caller error and frees the next transaction', async () => {
    const r = await within(
      db().$transaction(async (tx) => {
        await tx.$executeRawUnsafe('ROLLBACK');
        throw new Error('the caller error');
      }),
    );
    expect(r).toEqual({ err: 'the caller error' });
    expect(await failTask()).toEqual({ ok: 1 });
  });

  it('a failed COMMIT is rolled back and frees the next transaction', async () => {
    const r = await within(db().$transaction(async (tx) => tx.$executeRawUnsafe('COMMIT')));
    expect(r).not.toBe('hung');
    expect(r).toHaveProperty('err');
    expect(await failTask()).toEqual({ ok: 1 });
  });

  it.runIf(mounted || process.env.INSTACLONE_TEST_STRICT === '1')('a full disk fails each write with its own error, never hangs the next, and writes work once there is room', async () => {
    expect(mounted, 'needs root to mount a small tmpfs for the database').toBe(true);
    const filler = fillUp(home);
    try {
      for (let i = 0; i < 3; i++) {
        // a write big enough to need new pages
        const big = await within(db().task.update({ where: { id: 't1' }, data: { log: 'x'.repeat(256 << 10) } }));
        expect(big).toMatchObject({ err: expect.stringMatching(/disk is full/) });
        // (a transaction: before the fix its ROLLBACK failed, the error said "cannot rollback" and the next one hung)
        const next = await failTask();
        expect(next).not.toBe('hung');
        if (next !== 'hung' && 'err' in next) expect(next.err).toMatch(/disk is full/);
      }
    } finally {
      fs.rmSync(filler);
    }
    expect(await failTask()).toEqual({ ok: 1 });
  });
});
