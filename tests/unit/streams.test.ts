// Live streams (server-sent events) are capped per user and end at logout, session expiry and
// token revocation, through the real route and a real database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-streams-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;
process.env.INSTACLONE_STREAM_RECHECK_MS = '200';
process.env.INSTACLONE_MAX_STREAMS_PER_USER = '8';

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { createToken, revokeToken, hashToken } = await import('@/lib/auth/tokens');
const { createUser, login, endSession } = await import('@/lib/auth/sessions');
const { openStreamCount } = await import('@/lib/auth/streams');
const events = await import('@/app/api/events/route');

const controllers: AbortController[] = [];
const open = (headers: Record<string, string>) => {
  const ac = new AbortController();
  controllers.push(ac);
  return events.GET(new Request('http://console.test/api/events', { headers: { host: 'console.test', ...headers }, signal: ac.signal }));
};
/** Reads until the stream ends; resolves true when it ended within `ms`. */
async function endsWithin(res: Response, ms: number): Promise<boolean> {
  const reader = res.body!.getReader();
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const r = await Promise.race([reader.read(), new Promise<'t'>((ok) => setTimeout(() => ok('t'), left))]);
    if (r === 't') return false;
    if (r.done) return true;
  }
}

beforeAll(async () => {
  await migrate();
}, 60_000); // migrations take seconds on a loaded two-core machine
afterAll(async () => {
  for (const c of controllers) c.abort();
  delete process.env.INSTACLONE_STREAM_RECHECK_MS;
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('live streams', () => {
  it('are capped per user (429 with one sentence); a closed one frees its place; other users are not affected', async () => {
    const wall = await createToken('wall', 'viewer');
    const auth = { authorization: `Bearer ${wall.secret}` };
    const first: Response[] = [];
    for (let i = 0; i < 8; i++) first.push(await open(auth));
    expect(first.map((r) => r.status)).toEqual(Array(8).fill(200));
    const refused = await open(auth);
    expect(refused.status).toBe(429);
    expect((await refused.json()).error).toMatch(/^token:wall has 8 live streams open already \(the limit\): close some console tabs and try again\.$/);
    const other = await createToken('other', 'viewer');
    expect((await open({ authorization: `Bearer ${other.secret}` })).status).toBe(200);
    controllers[0].abort();
    expect(openStreamCount('token:wall')).toBe(7);
    expect((await open(auth)).status).toBe(200);
  });

  it('end at logout at once', async () => {
    await createUser('op', 'operator-pass', 'operator');
    const s = await login('op', 'operator-pass');
    const res = await open({ cookie: `ic_session=${s.id}` });
    expect(res.status).toBe(200);
    await endSession(s.id);
    expect(await endsWithin(res, 100)).toBe(true);
  });

  it('end when the session expires', async () => {
    const s = await login('op', 'operator-pass');
    const res = await open({ cookie: `ic_session=${s.id}` });
    await db().session.update({ where: { id: hashToken(s.id) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await endsWithin(res, 2000)).toBe(true);
  });

  it('end when their token is revoked', async () => {
    const t = await createToken('kiosk', 'viewer');
    const res = await open({ authorization: `Bearer ${t.secret}` });
    const alive = await open({ authorization: `Bearer ${t.secret}` });
    expect(await endsWithin(alive, 600)).toBe(false); // a valid one stays open
    await revokeToken(t.id);
    expect(await endsWithin(res, 2000)).toBe(true);
  });
});
