// PostgreSQL mode against a real server (scripts/test-postgres.sh starts one for npm test when root).
import { describe, expect, it } from 'vitest';
import { strict } from '../strict';

const url = process.env.INSTACLONE_TEST_PG_URL;
// In CI (.ci/run sets INSTACLONE_TEST_STRICT=1) a missing server is a failure, not a skip.
const mustRun = strict || !!process.env.CI;

describe.runIf(url || mustRun)('PostgreSQL mode', () => {
  it('applies the migrations twice without harm and stores records through the same client API', async () => {
    expect(url, `INSTACLONE_TEST_PG_URL is not set: scripts/test-postgres.sh could not start PostgreSQL${process.env.INSTACLONE_TEST_PG_ERROR ? ` (${process.env.INSTACLONE_TEST_PG_ERROR})` : ''}`).toBeTruthy();
    process.env.DATABASE_URL = url;
    const { migrate, db, disconnectDb } = await import('@/lib/db');
    try {
      await migrate();
      await migrate();
      const id = `t-${Date.now()}`;
      await db().template.create({
        data: { id, name: id, state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/r', statePath: '/s', diskPath: '/d' },
      });
      expect((await db().template.findUnique({ where: { name: id } }))?.state).toBe('frozen');
      // pools (migration 0004): the claim's conditional update works the same on PostgreSQL
      await db().pool.create({ data: { id: `p-${id}`, name: `p-${id}`, templateId: id, size: 2, spares: 1, onRelease: 'reset', state: 'active', members: { create: { vmId: `v-${id}`, templateId: id, state: 'spare' } } } });
      expect((await db().poolMember.updateMany({ where: { vmId: `v-${id}`, state: 'spare' }, data: { state: 'claimed', claimedAt: new Date() } })).count).toBe(1);
      expect((await db().poolMember.updateMany({ where: { vmId: `v-${id}`, state: 'spare' }, data: { state: 'claimed' } })).count).toBe(0);
      await db().pool.delete({ where: { id: `p-${id}` } });
      expect(await db().poolMember.count({ where: { vmId: `v-${id}` } })).toBe(0);
      const { health } = await import('@/lib/health');
      expect((await health()).database).toMatchObject({ ok: true, kind: 'postgresql' });
    } finally {
      await disconnectDb();
      delete process.env.DATABASE_URL;
    }
  });

  it('a transaction whose COMMIT fails gives its pooled connection back (the pool holds 10: before, the 11th waited for ever)', async () => {
    process.env.DATABASE_URL = url;
    const { db, disconnectDb } = await import('@/lib/db');
    const within = <T>(p: Promise<T>, ms = 20_000) => {
      let t!: NodeJS.Timeout;
      return Promise.race([p.then(() => 'ok', (e: Error) => `error: ${e.message}`), new Promise<string>((r) => (t = setTimeout(() => r('hung'), ms)))]).finally(() => clearTimeout(t));
    };
    try {
      for (let i = 0; i < 12; i++) {
        // a deferred unique check fails at COMMIT, not before
        const r = await within(
          db().$transaction(async (tx) => {
            await tx.$executeRawUnsafe('CREATE TEMP TABLE IF NOT EXISTS dtx (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)');
            await tx.$executeRawUnsafe('INSERT INTO dtx VALUES (1), (1)');
          }),
        );
        expect(r, `failing transaction ${i + 1}`).toMatch(/^error: .*(duplicate|unique)/i);
      }
      expect(await within(db().$transaction(async (tx) => tx.$queryRawUnsafe('SELECT 1')))).toBe('ok');
    } finally {
      await disconnectDb();
      delete process.env.DATABASE_URL;
    }
  });
});
