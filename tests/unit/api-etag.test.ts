// Cheap authenticated reads stay correct: GET answers carry an ETag of their own bytes and answer
// 304 only while unchanged; the engine's cached `ls` is serialised once and a database write gives
// a new answer and tag; authentication comes first, so a revoked token is refused at once even
// with a matching tag, and one caller's tag never gets another caller a 304 for a different answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-etag-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, db, disconnectDb } = await import('@/lib/db');
const { route, serve } = await import('@/lib/api/handler');
const { jsonResponse, etagMatches } = await import('@/lib/api/respond');
const { createToken, revokeToken } = await import('@/lib/auth/tokens');
const { Engine } = await import('@/lib/engine');
const { whoAmI } = await import('@/lib/services/reads');

const ls = route('viewer', async () => Engine.get().list());
const me = serve(whoAmI);
const get = (headers: Record<string, string> = {}, method = 'GET') =>
  new Request('http://console.test/api/v1/ls', { method, headers: { host: 'console.test', ...headers } });
const as = (secret: string, etag?: string) => get({ authorization: `Bearer ${secret}`, ...(etag ? { 'if-none-match': etag } : {}) });
const vm = (i: number) => ({ id: `vm_${i}`, name: `c-${i}`, kind: 'child', state: 'running', image: 'tiny', memoryMiB: 256, runDir: `/x/${i}`, templateId: 'tpl_e' });

beforeAll(async () => {
  await migrate();
  await db().template.create({ data: { id: 'tpl_e', name: 'e', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d' } });
  await db().vm.create({ data: vm(1) });
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('ETag on reads', () => {
  it('answers 304 with no body while the list is unchanged, and a new tag and body after a write', async () => {
    const t = await createToken('wall', 'viewer');
    const first = await ls(as(t.secret));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const tag = first.headers.get('etag')!;
    expect(tag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const body = await first.text();
    expect(JSON.parse(body).vms.map((v: { name: string }) => v.name)).toEqual(['c-1']);

    const again = await ls(as(t.secret, tag));
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
    expect(await again.text()).toBe('');
    // the same bytes to a caller without the tag (served from the frozen list, serialised once)
    expect(await (await ls(as(t.secret))).text()).toBe(body);

    await db().vm.create({ data: vm(2) });
    const changed = await ls(as(t.secret, tag));
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(tag);
    expect(JSON.parse(await changed.text()).vms.map((v: { name: string }) => v.name)).toEqual(['c-1', 'c-2']);
  });

  it('refuses a revoked token at once, matching tag or not, and never answers 304 to nobody', async () => {
    const t = await createToken('ci', 'viewer');
    const ok = await ls(as(t.secret));
    const tag = ok.headers.get('etag')!;
    expect((await ls(as(t.secret, tag))).status).toBe(304);
    await revokeToken(t.id);
    expect((await ls(as(t.secret, tag))).status).toBe(401);
    expect((await ls(get({ 'if-none-match': tag }))).status).toBe(401);
  });

  it("gives no 304 for another caller's tag when that caller's answer differs (role, name)", async () => {
    const viewer = await createToken('screen', 'viewer');
    const admin = await createToken('ops', 'admin');
    const v = await me(as(viewer.secret));
    const vTag = v.headers.get('etag')!;
    expect((await v.json()).role).toBe('viewer');
    const a = await me(as(admin.secret, vTag));
    expect(a.status).toBe(200);
    expect(a.headers.get('etag')).not.toBe(vTag);
    expect((await a.json()).role).toBe('admin');
    expect((await me(as(viewer.secret, vTag))).status).toBe(304);
  });

  it('the engine list is frozen: no reader can change what the next one gets', async () => {
    const l = await Engine.get().list();
    expect(Object.isFrozen(l) && Object.isFrozen(l.vms) && Object.isFrozen(l.vms[0])).toBe(true);
    expect(() => (l.vms as unknown[]).push({})).toThrow();
  });

  it('tags only reads: other methods and non-200 answers carry none, and a changed value gets a new tag', async () => {
    const post = jsonResponse(get({}, 'POST'), { ok: true });
    expect(post.headers.get('etag')).toBeNull();
    expect(jsonResponse(get(), { a: 1 }, 201).headers.get('etag')).toBeNull();
    const value = { a: 1 };
    const t1 = jsonResponse(get(), value).headers.get('etag');
    value.a = 2; // not frozen: serialised again every time, never from a stale copy
    const r = jsonResponse(get({ 'if-none-match': t1! }), value);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ a: 2 });
  });

  it('compares If-None-Match lists and weak tags as RFC 9110 says for GET', () => {
    expect(etagMatches('"x"', '"x"')).toBe(true);
    expect(etagMatches('"y", W/"x"', '"x"')).toBe(true);
    expect(etagMatches('*', '"x"')).toBe(true);
    expect(etagMatches('"y"', '"x"')).toBe(false);
    expect(etagMatches(null, '"x"')).toBe(false);
  });
});
