// Roles, tokens and cross-site rejection through the real REST wrapper and a real database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-auth-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb } = await import('@/lib/db');
const { route } = await import('@/lib/api/handler');
const { createToken, revokeToken, ensureAdminToken } = await import('@/lib/auth/tokens');
const { createUser, login, ensureFirstAdmin, completeSetup } = await import('@/lib/auth/sessions');

const whoami = route('viewer', async ({ principal }) => principal);
const operatorOnly = route('operator', async () => ({ did: 'it' }));
const adminOnly = route('admin', async () => ({ did: 'admin' }));

const req = (method: string, headers: Record<string, string> = {}) =>
  new Request('http://console.test/api/v1/x', { method, headers: { host: 'console.test', ...headers } });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('roles and tokens', () => {
  it('lets each role do what it may and refuses the rest with 403', async () => {
    const viewer = await createToken('wall', 'viewer');
    const operator = await createToken('ci', 'operator');
    expect((await whoami(req('GET', bearer(viewer.secret)))).status).toBe(200);
    expect((await operatorOnly(req('POST', bearer(viewer.secret)))).status).toBe(403);
    expect((await operatorOnly(req('POST', bearer(operator.secret)))).status).toBe(200);
    const refused = await adminOnly(req('POST', bearer(operator.secret)));
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toMatch(/needs the admin role/);
  });

  it('refuses missing and revoked tokens with 401', async () => {
    expect((await whoami(req('GET'))).status).toBe(401);
    const t = await createToken('temp', 'operator');
    expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(200);
    await revokeToken(t.id);
    expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(401);
  });

  it('looks a token up once per moment and writes its lastUsed once, but sees a revocation at once', async () => {
    const { db } = await import('@/lib/db');
    const t = await createToken('loop', 'viewer');
    let writes = 0;
    const client = db();
    const orig = client.apiToken.update.bind(client.apiToken);
    (client.apiToken as { update: unknown }).update = (a: Parameters<typeof orig>[0]) => {
      if ((a.data as { lastUsed?: unknown }).lastUsed) writes++;
      return orig(a);
    };
    try {
      const codes = await Promise.all(Array.from({ length: 50 }, () => whoami(req('GET', bearer(t.secret))).then((r) => r.status)));
      expect(codes.every((c) => c === 200)).toBe(true);
      for (let i = 0; i < 20; i++) expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(200);
      expect(writes).toBe(1);
    } finally {
      (client.apiToken as { update: unknown }).update = orig;
    }
    await revokeToken(t.id);
    expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(401);
  });

  it('sees a revocation written by another process within the cache lifetime', async () => {
    const { db } = await import('@/lib/db');
    const { AUTH_CACHE_MS } = await import('@/lib/auth/cache');
    const t = await createToken('other', 'viewer');
    expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(200);
    await db().apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } }); // not through revokeToken
    await new Promise((r) => setTimeout(r, AUTH_CACHE_MS + 50));
    expect((await whoami(req('GET', bearer(t.secret)))).status).toBe(401);
  });

  it('keeps the local admin token in INSTACLONE_HOME with mode 0600, stable across restarts', async () => {
    const a = await ensureAdminToken();
    const b = await ensureAdminToken();
    expect(a).toBe(b);
    expect(fs.statSync(path.join(home, 'admin.token')).mode & 0o777).toBe(0o600);
    expect((await adminOnly(req('POST', bearer(a)))).status).toBe(200);
  });
});

describe('sessions', () => {
  it('sets up the first admin once through the setup link, then logs in with the password', async () => {
    const first = await ensureFirstAdmin();
    expect(first).toBeTruthy();
    const secret = await ensureFirstAdmin(); // a restart before setup: a new link, the old one stops working
    expect(secret).not.toBe(first);
    await expect(completeSetup(first!, 'correct horse')).rejects.toThrow(/used already/);
    await completeSetup(secret!, 'correct horse');
    await expect(completeSetup(secret!, 'another one')).rejects.toThrow(/used already/);
    const s = await login('admin', 'correct horse');
    const cookie = { cookie: `ic_session=${s.id}` };
    expect((await adminOnly(req('GET', cookie))).status).toBe(200);
    await expect(login('admin', 'wrong password')).rejects.toThrow(/Wrong user name or password/);
  });

  it('refuses a cookie-authenticated change from another site, accepts it from our own pages', async () => {
    await createUser('op', 'operator-pass', 'operator');
    const s = await login('op', 'operator-pass');
    const cookie = `ic_session=${s.id}`;
    const evil = await operatorOnly(req('POST', { cookie, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }));
    expect(evil.status).toBe(403);
    expect((await evil.json()).error).toMatch(/Cross-site/);
    const noOrigin = await operatorOnly(req('POST', { cookie }));
    expect(noOrigin.status).toBe(403);
    const ok = await operatorOnly(req('POST', { cookie, origin: 'http://console.test', 'sec-fetch-site': 'same-origin' }));
    expect(ok.status).toBe(200);
  });
});
