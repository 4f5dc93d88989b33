// The web edge as an attacker sees it: huge bodies, login floods, login CSRF, open redirects,
// racing the setup link, and 500s that would leak internals.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-web-edge-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { route, readJson } = await import('@/lib/api/handler');
const { createToken } = await import('@/lib/auth/tokens');
const { createUser, ensureFirstAdmin, completeSetup, login, SETUP_HOURS } = await import('@/lib/auth/sessions');
const { safeNextPath } = await import('@/lib/auth/safe-next');
const loginRoute = await import('@/app/api/auth/login/route');
const setupRoute = await import('@/app/api/auth/setup/route');

const ORIGIN = { host: 'console.test', origin: 'http://console.test', 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
const post = (url: string, body: string, headers: Record<string, string> = ORIGIN) =>
  new Request(`http://console.test${url}`, { method: 'POST', headers, body });

beforeAll(async () => {
  await migrate();
}, 60_000); // migrations take seconds on a loaded two-core machine
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('request bodies are capped', () => {
  const echo = route('operator', async ({ req }) => ({ got: typeof (await readJson(req)) }));
  it('refuses a body over 64 KiB with 413, by Content-Length and by what really arrives', async () => {
    const { secret } = await createToken('big', 'operator');
    const auth = { host: 'console.test', authorization: `Bearer ${secret}` };
    const big = JSON.stringify({ x: 'a'.repeat(200 * 1024) });
    const r1 = await echo(post('/api/v1/x', big, auth));
    expect(r1.status).toBe(413);
    expect((await r1.json()).error).toMatch(/larger than 64 KiB/);
    // a streamed body (no Content-Length) is cut as soon as it passes the cap
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 16 * 1024;
        if (sent > 10 * 1024 * 1024) c.close();
        else c.enqueue(new Uint8Array(16 * 1024).fill(32));
      },
    });
    const r2 = await echo(new Request('http://console.test/api/v1/x', { method: 'POST', headers: auth, body: stream, duplex: 'half' } as RequestInit));
    expect(r2.status).toBe(413);
    expect(sent).toBeLessThan(1024 * 1024);
    expect((await echo(post('/api/v1/x', '{"a":1}', auth))).status).toBe(200);
  });

  it('caps log-in and setup bodies at 4 KiB, before anything else is done with them', async () => {
    const body = JSON.stringify({ username: 'admin', password: 'p'.repeat(8 * 1024) });
    expect((await loginRoute.POST(post('/api/auth/login', body))).status).toBe(413);
    expect((await setupRoute.POST(post('/api/auth/setup', JSON.stringify({ token: 't'.repeat(8 * 1024), password: 'x' })))).status).toBe(413);
  });
});

describe('log-in', () => {
  it('refuses a log-in or setup POST from another site (login CSRF)', async () => {
    const body = JSON.stringify({ username: 'nobody', password: 'whatever1' });
    const evil = { host: 'console.test', origin: 'http://evil.example', 'content-type': 'application/json' };
    expect((await loginRoute.POST(post('/api/auth/login', body, evil))).status).toBe(403);
    expect((await loginRoute.POST(post('/api/auth/login', body, { host: 'console.test' }))).status).toBe(403);
    expect((await setupRoute.POST(post('/api/auth/setup', JSON.stringify({ token: 'x', password: 'whatever1' }), evil))).status).toBe(403);
  });

  it('limits failed log-ins per user, refuses even the right password then, and logs every failure', async () => {
    await createUser('flood', 'the-right-one', 'operator');
    const attempt = (password: string) => loginRoute.POST(post('/api/auth/login', JSON.stringify({ username: 'flood', password })));
    for (let i = 0; i < 10; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
    const refused = await attempt('the-right-one');
    expect(refused.status).toBe(429);
    expect((await refused.json()).error).toMatch(/^Too many failed log-ins for "flood": wait 15 minutes and try again\.$/);
    const events = await db().event.findMany({ where: { action: 'login', targetName: 'flood' }, orderBy: { id: 'asc' } });
    expect(events.filter((e) => e.result === 'error')).toHaveLength(11);
    // the last one was refused by the limit, before the password was even checked
    expect(events.at(-1)!.message).toMatch(/^refused \(rate limit\) from direct$/);
    // another user is not locked out by it
    await createUser('other', 'other-pass', 'viewer');
    expect(await login('other', 'other-pass')).toHaveProperty('id');
  });
});

describe('after log-in, only paths on this console', () => {
  it.each([
    ['/\\evil.example', '/'],
    ['/%09/evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['//evil.example', '/'],
    ['/%2F/evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/%5Cevil.example', '/'],
    ['', '/'],
    ['/wall', '/wall'],
    ['/vms/web-1?tab=serial#x', '/vms/web-1?tab=serial#x'],
  ])('%j goes to %j', (next, want) => {
    expect(safeNextPath(next)).toBe(want);
  });
});

describe('the first admin setup link', () => {
  it('can be claimed once even by two requests racing with the secret', async () => {
    await db().user.deleteMany({});
    const secret = (await ensureFirstAdmin())!;
    const results = await Promise.allSettled([completeSetup(secret, 'password-one'), completeSetup(secret, 'password-two')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(String((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message)).toMatch(/used already/);
  });

  it('expires after SETUP_HOURS, and a restart issues a new one while setup is unfinished', async () => {
    await db().user.deleteMany({});
    const old = (await ensureFirstAdmin(Date.now() - (SETUP_HOURS + 1) * 3600_000))!;
    await expect(completeSetup(old, 'long enough')).rejects.toThrow(/has expired: restart the console/);
    const fresh = (await ensureFirstAdmin())!;
    expect(fresh).not.toBe(old);
    await completeSetup(fresh, 'long enough');
    expect(await ensureFirstAdmin()).toBeNull(); // done: no more links
  });
});

describe('unexpected errors', () => {
  it('answer 500 with a plain sentence, not the internal error text', async () => {
    const boom = route('viewer', async () => {
      throw new Error('ENOENT: /secret/path/to/something at Object.openSync');
    });
    const { secret } = await createToken('boom', 'viewer');
    const res = await boom(new Request('http://console.test/x', { headers: { host: 'console.test', authorization: `Bearer ${secret}` } }));
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error).not.toMatch(/secret|ENOENT/);
    expect(body.error).toMatch(/^The console failed unexpectedly/);
  });
});

describe('the event log records security events', () => {
  it('has token creation and revocation, and serial typing (once per user and VM, without the keys)', async () => {
    const net = await import('node:net');
    const tokens = await import('@/app/api/v1/tokens/route');
    const tokenById = await import('@/app/api/v1/tokens/[id]/route');
    const serial = await import('@/app/api/v1/vms/[ref]/serial/route');
    const admin = await createToken('root-ish', 'admin');
    const auth = { host: 'console.test', authorization: `Bearer ${admin.secret}`, 'content-type': 'application/json' };
    const made = await (await tokens.POST(post('/api/v1/tokens', JSON.stringify({ name: 'kiosk', role: 'viewer' }), auth))).json();
    const del = await tokenById.DELETE(new Request(`http://console.test/api/v1/tokens/${made.id}`, { method: 'DELETE', headers: auth }), { params: Promise.resolve({ id: made.id }) });
    expect(del.status).toBe(200);
    const ev = await db().event.findMany({ where: { targetId: made.id }, orderBy: { id: 'asc' } });
    expect(ev.map((e) => [e.action, e.actor, e.result])).toEqual([
      ['token.create', 'token:root-ish', 'ok'],
      ['token.revoke', 'token:root-ish', 'ok'],
    ]);

    // a VM whose serial socket is a plain listener here
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-serial-'));
    const got: Buffer[] = [];
    const srv = net.createServer((c) => c.on('data', (d) => got.push(d)));
    await new Promise<void>((r) => srv.listen(path.join(runDir, 'serial.sock'), r));
    try {
      await db().vm.create({ data: { id: 'vm_serialtest', name: 'typed', kind: 'child', state: 'running', image: 'tiny', memoryMiB: 256, runDir } });
      for (const data of ['secret-pass', 'word\r']) {
        const r = await serial.POST(post('/api/v1/vms/typed/serial', JSON.stringify({ data }), auth), { params: Promise.resolve({ ref: 'typed' }) });
        expect(r.status).toBe(200);
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(Buffer.concat(got).toString()).toBe('secret-password\r');
      const typed = await db().event.findMany({ where: { action: 'serial.type' } });
      expect(typed).toHaveLength(1);
      expect(typed[0]).toMatchObject({ actor: 'token:root-ish', targetName: 'typed' });
      expect(JSON.stringify(typed)).not.toMatch(/secret|word/);
    } finally {
      srv.close();
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });
});

describe('the console on the network', () => {
  it('sets a Secure __Host- session cookie when served over HTTPS (directly or behind a trusted TLS proxy), and reads it back', async () => {
    const { sessionCookie } = await import('@/lib/api/session-cookie');
    expect(sessionCookie('s1', new Request('http://console.test/x'))).toMatchObject({ name: 'ic_session', options: { secure: false, httpOnly: true } });
    expect(sessionCookie('s1', new Request('https://console.test/x'))).toMatchObject({ name: '__Host-ic_session', options: { secure: true, path: '/' } });
    const proxied = new Request('http://console.test/x', { headers: { 'x-forwarded-proto': 'https' } });
    expect(sessionCookie('s1', proxied).options.secure).toBe(false); // a header anyone can send
    process.env.INSTACLONE_TRUST_PROXY = '1';
    try {
      expect(sessionCookie('s1', proxied)).toMatchObject({ name: '__Host-ic_session', options: { secure: true } });
    } finally {
      delete process.env.INSTACLONE_TRUST_PROXY;
    }
    await createUser('tls', 'tls-password', 'viewer');
    const s = await login('tls', 'tls-password');
    const whoami = route('viewer', async ({ principal }) => principal);
    const res = await whoami(new Request('https://console.test/x', { headers: { host: 'console.test', cookie: `__Host-ic_session=${s.id}` } }));
    expect(res.status).toBe(200);
    expect((await res.json()).name).toBe('tls');
  });

  it('listens on loopback unless HOST says otherwise (npm start)', () => {
    const start = fs.readFileSync('scripts/start.sh', 'utf8');
    expect(start).toMatch(/next start -H "\$\{HOST:-127\.0\.0\.1\}"/);
  });
});

describe('password hashes', () => {
  it('are scrypt (off the event loop); an old bcrypt hash still logs in and is replaced', async () => {
    const bcrypt = (await import('bcryptjs')).default;
    const u = await createUser('hashy', 'hashy-password', 'viewer');
    expect(u.passwordHash).toMatch(/^scrypt\$16384\$8\$1\$/);
    await db().user.update({ where: { id: u.id }, data: { passwordHash: await bcrypt.hash('hashy-password', 4) } });
    await expect(login('hashy', 'wrong-password')).rejects.toThrow(/Wrong user name or password/);
    await login('hashy', 'hashy-password');
    expect((await db().user.findUniqueOrThrow({ where: { id: u.id } })).passwordHash).toMatch(/^scrypt\$/);
    await login('hashy', 'hashy-password');
    await expect(login('nobody-here', 'hashy-password')).rejects.toThrow(/Wrong user name or password/);
  });
});
