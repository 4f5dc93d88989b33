// A long action's server action answers its operation's id at once, and that id is followed from
// start to end over the console's event stream (/api/events, what the browser reads), through the
// same reducer the console's useOperation uses (lib/client/operation.ts). Refusals of role or input
// come back at once as the action's error, with no operation. Reset of many over REST and its
// refusals. Real database and engine, no QEMU (the VMs named do not exist).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-follow-'));
fs.chmodSync(home, 0o711);
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = path.join(home, 'run');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const jar = new Map<string, string>();
vi.mock('next/headers', () => ({ cookies: async () => ({ get: (n: string) => (jar.has(n) ? { name: n, value: jar.get(n) } : undefined) }) }));

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { startSession, SESSION_COOKIE } = await import('@/lib/auth/sessions');
const { createToken } = await import('@/lib/auth/tokens');
const { Engine } = await import('@/lib/engine');
const vms = await import('@/app/actions/vms');
const templates = await import('@/app/actions/templates');
const resetRoute = await import('@/app/api/v1/vms/reset/route');
const opRoute = await import('@/app/api/v1/operations/[id]/route');
const { applyEvent, fromRow } = await import('@/lib/client/operation');
const { openEventStream } = await import('../event-stream');

let session = '';
const as = async (role: 'viewer' | 'operator') => {
  session = (await startSession(`${role}-user`, role)).id;
  jar.set(SESSION_COOKIE, session);
};

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await Engine.get().shutdown();
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('a server action’s operation, followed over the event stream', () => {
  it('reset of many: the id at once, each VM’s end as a step, the result at the end; the console’s reducer ends in the same place', async () => {
    await as('operator');
    const stream = await openEventStream(session);
    try {
      const started = await vms.resetVmsAction({ refs: ['ghost-a', 'ghost-b'] });
      expect(started).toEqual({ ok: true, data: { operationId: expect.stringMatching(/^task_/) } });
      const id = started.ok ? started.data.operationId : '';
      const end = await stream.ended(id);
      const mine = stream.of(id);
      expect(mine[0]).toMatchObject({ id, kind: 'reset', state: 'running', progress: 0 });
      const steps = mine.filter((e) => e.step === 'reset');
      expect(steps.map((e) => e.progress)).toEqual([0.5, 1]);
      expect(steps.map((e) => e.message).sort()).toEqual(['ghost-a failed: No VM named "ghost-a"; list VMs with `instaclone ls`.', 'ghost-b failed: No VM named "ghost-b"; list VMs with `instaclone ls`.']);
      expect(end).toMatchObject({ state: 'succeeded', progress: 1, result: { results: [{ ref: 'ghost-a', ok: false }, { ref: 'ghost-b', ok: false }] } });
      expect(mine.filter((e) => e.state !== 'running')).toHaveLength(1); // it ends once

      // what useOperation holds: the row read when the page opened, then every event with the id
      let followed = fromRow(undefined, { id, kind: 'reset', state: 'running', progress: 0, log: '' });
      for (const e of stream.events) followed = applyEvent(followed, e, id)!;
      expect(followed).toMatchObject({ id, state: 'succeeded', progress: 1, step: 'reset', result: end.result });
      // a row read before the end but answered after it does not undo the end
      expect(fromRow(followed, { id, state: 'running', progress: 0.5 })).toBe(followed);
      // and the row says the same as the stream
      const row = await (await opRoute.GET(new Request(`http://console.test/api/v1/operations/${id}`, { headers: { host: 'console.test', cookie: `${SESSION_COOKIE}=${session}` } }), { params: Promise.resolve({ id }) })).json();
      expect(row).toMatchObject({ id, kind: 'reset', state: 'succeeded', targetName: '2 VMs', result: end.result });
      expect(fromRow(undefined, row)).toMatchObject({ state: 'succeeded', step: 'reset', message: expect.stringMatching(/^ghost-. failed/) });
    } finally {
      stream.close();
    }
  });

  it('a fork that the engine refuses: the id at once, then the failure with its one sentence on the stream', async () => {
    await as('operator');
    const stream = await openEventStream(session);
    try {
      const started = await templates.forkAction({ ref: 'ghost', count: 1 });
      expect(started.ok).toBe(true);
      const id = started.ok ? started.data.operationId : '';
      const end = await stream.ended(id);
      expect(end).toMatchObject({ state: 'failed', error: expect.stringMatching(/^No template named "ghost"/) });
      expect(applyEvent(undefined, end, id)).toMatchObject({ state: 'failed', error: end.error });
      expect(stream.invalid).toEqual([]); // everything the route sent is what the console parses
    } finally {
      stream.close();
    }
  });

  it('refusals of role and input come back at once as the action’s error, and no operation exists', async () => {
    const before = await db().task.count();
    await as('operator');
    expect(await vms.resetVmsAction({ refs: [] })).toEqual({ ok: false, code: 'invalid', error: expect.stringMatching(/Select at least one VM/) });
    expect(await templates.forkAction({ ref: 'ghost', count: 0 })).toMatchObject({ ok: false, code: 'invalid' });
    // the host to pin and the retry id are parsed once, at the boundary (lib/cluster/dispatch reads them typed)
    expect(await templates.forkAction({ ref: 'ghost', count: 1, host: 'Not A Host!' } as never)).toEqual({ ok: false, code: 'invalid', error: expect.stringMatching(/^host: A host name is 1-40/) });
    expect(await templates.forkAction({ ref: 'ghost', count: 1, requestId: '../x' } as never)).toEqual({ ok: false, code: 'invalid', error: expect.stringMatching(/^requestId: The request id is 8-100/) });
    expect(await vms.liveForkAction({ ref: 'ghost', count: 1, host: 'Not A Host!' } as never)).toMatchObject({ ok: false, code: 'invalid' });
    expect(await templates.prepareAction({ name: 'web', host: '-bad-' } as never)).toMatchObject({ ok: false, code: 'invalid' });
    await as('viewer');
    expect(await vms.resetVmsAction({ refs: ['x'] })).toMatchObject({ ok: false, code: 'forbidden', error: 'This needs the operator role; viewer-user is viewer.' });
    expect(await db().task.count()).toBe(before);
  });
});

describe('POST /api/v1/vms/reset', () => {
  let operator = '';
  let viewer = '';
  const post = (secret: string, body: unknown, query = '') =>
    resetRoute.POST(new Request(`http://console.test/api/v1/vms/reset${query}`, { method: 'POST', headers: { host: 'console.test', authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }));

  beforeAll(async () => {
    operator = (await createToken('reset-op', 'operator')).secret;
    viewer = (await createToken('reset-viewer', 'viewer')).secret;
  });

  it('waits and answers each VM’s outcome; ?wait=0 answers the operation at once', async () => {
    const res = await post(operator, { refs: ['ghost-c'] });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-instaclone-operation')).toMatch(/^task_/);
    expect(await res.json()).toEqual({ results: [{ ref: 'ghost-c', ok: false, error: 'No VM named "ghost-c"; list VMs with `instaclone ls`.' }] });
    const detached = await post(operator, { refs: ['ghost-d', 'ghost-e'] }, '?wait=0');
    expect(detached.status).toBe(202);
    const { operationId } = await detached.json();
    await vi.waitFor(async () => expect(await Engine.get().operation(operationId)).toMatchObject({ kind: 'reset', state: 'succeeded', actor: 'token:reset-op' }), { timeout: 10_000 });
  });

  it('refuses a viewer and a body that is not a list of VMs, in one sentence', async () => {
    const refused = await post(viewer, { refs: ['x'] });
    expect(refused.status).toBe(403);
    const bad = await post(operator, { refs: 'web-1' });
    expect(bad.status).toBe(422);
    expect((await bad.json()).error).toMatch(/Name the VMs as a list of ids or names/);
  });
});
