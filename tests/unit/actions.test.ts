// Every console mutation through its server action, with a faked session cookie (next/headers mocked):
// each refuses a visitor without a session (401) and a viewer (403) before it parses or reaches the
// engine, in the same words the REST route uses; admin actions are carried out and logged; the REST
// routes call the same services. Real database, no QEMU (tests/engine/actions.test.ts drives QEMU).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-actions-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

// the session cookie the action sees: set per test
const jar = new Map<string, string>();
// and the request's headers: from the console's own page unless a test says otherwise
const page = { origin: 'http://console.test', host: 'console.test' };
const hdr = new Map<string, string>(Object.entries(page));
vi.mock('next/headers', () => ({
  cookies: async () => ({ get: (n: string) => (jar.has(n) ? { name: n, value: jar.get(n) } : undefined) }),
  headers: async () => new Headers([...hdr]),
}));

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { startSession, SESSION_COOKIE } = await import('@/lib/auth/sessions');
const { createToken } = await import('@/lib/auth/tokens');
const vms = await import('@/app/actions/vms');
const templates = await import('@/app/actions/templates');
const pools = await import('@/app/actions/pools');
const images = await import('@/app/actions/images');
const admin = await import('@/app/actions/admin');
const tokenRoute = await import('@/app/api/v1/tokens/route');
const vmActionRoute = await import('@/app/api/v1/vms/[ref]/[action]/route');

const as = async (role: 'viewer' | 'operator' | 'admin' | null) => {
  jar.clear();
  if (role) jar.set(SESSION_COOKIE, (await startSession(`${role}-user`, role)).id);
};

// every mutation the console makes, with an input that would be valid
const MUTATIONS: [string, () => Promise<{ ok: boolean; code?: string; error?: string }>][] = [
  ['start', () => vms.startVmAction({ ref: 'x' })],
  ['stop', () => vms.stopVmAction({ ref: 'x' })],
  ['reset', () => vms.resetVmAction({ ref: 'x' })],
  ['delete VM', () => vms.removeVmAction({ ref: 'x', force: true })],
  ['bulk', () => vms.bulkVmAction({ action: 'stop', refs: ['x', 'y'] })],
  ['reset many', () => vms.resetVmsAction({ refs: ['x', 'y'] })],
  ['exec', () => vms.execAction({ ref: 'x', command: ['hostname'] })],
  ['serial typing', () => vms.typeSerialAction({ ref: 'x', data: 'ls\r' })],
  ['live fork', () => vms.liveForkAction({ ref: 'x', count: 1 })],
  ['release', () => vms.releaseVmAction({ ref: 'x' })],
  ['prepare', () => templates.prepareAction({ image: 'tiny', name: 'web' })],
  ['fork', () => templates.forkAction({ ref: 'x', count: 2 })],
  ['resume', () => templates.resumeTemplateAction({ ref: 'x' })],
  ['delete template', () => templates.removeTemplateAction({ ref: 'x' })],
  ['pool create', () => pools.createPoolAction({ name: 'p', template: 'x', size: 2 })],
  ['claim', () => pools.claimAction({ ref: 'p' })],
  ['pool resize', () => pools.resizePoolAction({ ref: 'p', size: 3 })],
  ['pool push', () => pools.pushPoolAction({ ref: 'p', template: 'y' })],
  ['pool remove', () => pools.removePoolAction({ ref: 'p' })],
  ['image import', () => images.importImageAction({ name: 'img', disk: '/nonexistent.qcow2', format: 'auto', firmware: 'bios' })],
  ['image remove', () => images.removeImageAction({ ref: 'img' })],
  ['token create', () => admin.createTokenAction({ name: 't', role: 'viewer' })],
  ['token revoke', () => admin.revokeTokenAction({ ref: 'x' })],
  ['settings', () => admin.updateSettingsAction({ maxChildrenPerTemplate: 3 })],
];
const ADMIN_ONLY = new Set(['token create', 'token revoke', 'settings', 'image import']); // a path on the console's host: admins only

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('server actions: session and role, as the API checks them', () => {
  it.each(MUTATIONS)('%s: no session is refused (unauthorized), as a value', async (_n, call) => {
    await as(null);
    expect(await call()).toMatchObject({ ok: false, code: 'unauthorized', error: expect.stringMatching(/^Log in first/) });
  });

  it.each(MUTATIONS)('%s: a viewer is refused (forbidden) before anything is parsed or touched', async (n, call) => {
    await as('viewer');
    const before = await db().event.count();
    const r = await call();
    expect(r).toMatchObject({ ok: false, code: 'forbidden' });
    expect(r.error).toBe(`This needs the ${ADMIN_ONLY.has(n) ? 'admin' : 'operator'} role; viewer-user is viewer.`);
    expect(await db().event.count()).toBe(before); // nothing done, nothing logged
  });

  it.each(MUTATIONS.filter(([n]) => ADMIN_ONLY.has(n)))('%s: an operator is refused (admin only)', async (_n, call) => {
    await as('operator');
    expect(await call()).toMatchObject({ ok: false, code: 'forbidden', error: 'This needs the admin role; operator-user is operator.' });
  });

  it('an operator gets past the role check: bad input is refused by the shared schema, unknown names by the engine', async () => {
    await as('operator');
    expect(await templates.forkAction({ ref: 'x', count: 0 })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/child count/i) });
    expect(await vms.execAction({ ref: 'x', command: [] })).toMatchObject({ ok: false, code: 'invalid' });
    expect(await vms.typeSerialAction({ ref: 'x', data: '' })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/1 to 4096 characters/) });
    expect(await vms.bulkVmAction({ action: 'reboot' as 'stop', refs: ['x'] })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/start, stop, reset, delete/) });
    expect(await vms.typeSerialAction({ ref: 'no-such-vm', data: 'x' })).toMatchObject({ ok: false, code: 'not_found', error: expect.stringMatching(/No VM named "no-such-vm"/) });
    expect(await templates.templateFilesAction({ ref: 'no-such-template' })).toMatchObject({ ok: false, code: 'not_found' });
    expect(await vms.removeVmAction({ ref: '' })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/Name the VM/) });
  });

  it('an admin creates and revokes a token, changes a limit, and each is in the event log by name', async () => {
    await as('admin');
    const made = await admin.createTokenAction({ name: 'wall', role: 'viewer' });
    expect(made).toMatchObject({ ok: true, data: { name: 'wall', role: 'viewer', secret: expect.stringMatching(/^ic_/) } });
    if (!made.ok) return;
    expect(await admin.revokeTokenAction({ ref: made.data.id })).toMatchObject({ ok: true, data: { revoked: made.data.id } });
    const set = await admin.updateSettingsAction({ maxChildrenPerTemplate: 7 });
    expect(set).toMatchObject({ ok: true, data: { limits: { maxChildrenPerTemplate: 7 } } });
    const refused = await admin.updateSettingsAction({ maxChildrenPerTemplate: -1 });
    expect(refused).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/must not be negative/) });
    const log = await db().event.findMany({ where: { actor: 'admin-user' }, orderBy: { id: 'asc' } });
    expect(log.map((e) => `${e.action} ${e.result}`)).toEqual(['token.create ok', 'token.revoke ok', 'settings ok', 'settings error']);
    const listed = await admin.listTokensAction();
    expect(listed.ok && listed.data.tokens.find((t) => t.id === made.data.id)?.revokedAt).toBeTruthy();
  });
});

describe('server actions: from the console\'s own pages only', () => {
  const setHeaders = (h: Record<string, string>) => {
    hdr.clear();
    for (const [k, v] of Object.entries(h)) hdr.set(k, v);
  };
  afterEach(() => setHeaders(page));

  it.each([
    ['no Origin (Next.js lets that through)', { host: 'console.test' }],
    ['another port on the same host (a guest\'s forwarded web page)', { host: 'console.test', origin: 'http://console.test:40001' }],
    ['another site', { host: 'console.test', origin: 'http://evil.example' }],
    ['a cross-site fetch', { host: 'console.test', origin: 'http://console.test', 'sec-fetch-site': 'cross-site' }],
  ])('%s: a signed-in operator\'s action is refused before anything is done', async (_n, h) => {
    await as('operator');
    setHeaders(h);
    const before = await db().event.count();
    for (const call of [() => vms.stopVmAction({ ref: 'x' }), () => templates.forkAction({ ref: 'x', count: 1 }), () => admin.listTokensAction()]) {
      expect(await call()).toMatchObject({ ok: false, code: 'forbidden', error: expect.stringMatching(/^Cross-site request refused/) });
    }
    expect(await db().event.count()).toBe(before);
    setHeaders({ ...h, origin: 'http://console.test', 'sec-fetch-site': 'same-origin' });
    expect(await vms.stopVmAction({ ref: 'x' })).toMatchObject({ ok: false, code: 'not_found' }); // the same call from our page gets through
  });
});

describe('REST calls the same services', () => {
  const req = (method: string, secret: string, body?: unknown) =>
    new Request('http://console.test/api/v1/x', { method, headers: { host: 'console.test', authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  it('answers with the service’s result and its refusals in the same words', async () => {
    const root = (await createToken('root', 'admin')).secret;
    const viewer = (await createToken('v', 'viewer')).secret;
    const r = await tokenRoute.POST(req('POST', root, { name: 'ci', role: 'operator' }));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ name: 'ci', role: 'operator', secret: expect.any(String) });
    const bad = await tokenRoute.POST(req('POST', root, [1]));
    expect(bad.status).toBe(422);
    const refused = await vmActionRoute.POST(req('POST', viewer), { params: Promise.resolve({ ref: 'x', action: 'reset' }) });
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toBe('This needs the operator role; token:v is viewer.');
  });
});
