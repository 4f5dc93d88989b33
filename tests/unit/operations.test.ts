// Operations (lib/engine/operations.ts): an id at once, the engine's own task takes it over, progress
// and the result go out as task events with that id, failures end the row, a restart fails what it
// cut short; REST answers 202 {operationId} when asked and waits otherwise.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-ops-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = path.join(home, 'run');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { Core } = await import('@/lib/engine/core');
const { EngineError } = await import('@/lib/engine/errors');
const ops = await import('@/lib/engine/operations');
const { wantsAsync } = await import('@/lib/api/operation');
const { createToken } = await import('@/lib/auth/tokens');
const { Engine } = await import('@/lib/engine');
const forkRoute = await import('@/app/api/v1/templates/[ref]/fork/route');
const taskRoute = await import('@/app/api/v1/tasks/[id]/route');
const opRoute = await import('@/app/api/v1/operations/[id]/route');

type Ev = { type: string; id: string; state?: string; progress?: number; result?: unknown; error?: string };

function recorder(core: InstanceType<typeof Core>) {
  const seen: Ev[] = [];
  core.events.on('event', (e: Ev) => e.type === 'task' && seen.push(e));
  return seen;
}

beforeAll(async () => {
  await migrate();
});
afterAll(async () => {
  await Engine.get().shutdown();
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('operations', () => {
  it('has its id before the work starts; the engine task takes it over; the result goes out with the id', async () => {
    const core = new Core();
    const seen = recorder(core);
    let idInside = '';
    const op = await ops.startOperation(core, 'fork', { name: 'web' }, { actor: 'alice' }, async (ctx) => {
      expect(await db().task.findUnique({ where: { id: ctx.operationId! } })).toMatchObject({ state: 'running', kind: 'fork', actor: 'alice' });
      const t = await core.task('fork', { id: 'tpl_web', name: 'web' }, ctx);
      idInside = t.id;
      await t.progress('fork', 0.5, 'web-1 is running');
      const inner = await core.task('start', { id: 'vm_x', name: 'x' }, ctx); // a nested task has its own row
      expect(inner.id).not.toBe(t.id);
      await inner.done({ ok: true });
      await t.done({ partial: true });
      return { children: ['web-1'] };
    });
    expect(await op.promise).toEqual({ children: ['web-1'] });
    expect(idInside).toBe(op.id);
    const row = await ops.getOperation(op.id);
    expect(row).toMatchObject({ id: op.id, kind: 'fork', state: 'succeeded', progress: 1, targetId: 'tpl_web', targetName: 'web', result: { children: ['web-1'] } });
    expect(row!.log).toContain('fork: web-1 is running');
    const mine = seen.filter((e) => e.id === op.id);
    expect(mine.map((e) => e.state)).toEqual(['running', 'running', 'running', 'succeeded']);
    expect(mine.at(-1)).toMatchObject({ state: 'succeeded', result: { children: ['web-1'] } });
    expect(mine.filter((e) => e.state === 'succeeded')).toHaveLength(1); // ended once, by the operation
    expect(await db().task.count({ where: { state: 'running' } })).toBe(0);
  });

  it('a refusal ends the operation as failed with its one sentence, and the caller gets the error', async () => {
    const core = new Core();
    const seen = recorder(core);
    const op = await ops.startOperation(core, 'fork', { name: 'nope' }, {}, async () => {
      throw new EngineError('not_found', 'No template named "nope"; list templates with `instaclone ls`.');
    });
    await expect(op.promise).rejects.toThrow(/No template named "nope"/);
    expect(await ops.getOperation(op.id)).toMatchObject({ state: 'failed', error: 'No template named "nope"; list templates with `instaclone ls`.', actor: 'system' });
    expect(seen.filter((e) => e.id === op.id).at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/^No template/) });
  });

  it('at start-up, an operation a restart cut short is failed with what it left', async () => {
    const core = new Core();
    const started = new Date(Date.now() - 60_000);
    await db().template.create({ data: { id: 'tpl_r', name: 'r', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d', createdAt: new Date(Date.now() - 3_600_000) } });
    await db().task.create({ data: { id: 'task_cut', kind: 'fork', state: 'running', targetId: 'tpl_r', targetName: 'r', startedAt: started } });
    const vm = (id: string, name: string, createdAt: Date) => db().vm.create({ data: { id, name, kind: 'child', state: 'running', image: 'tiny', memoryMiB: 256, runDir: `/x/${id}`, templateId: 'tpl_r', createdAt } });
    await vm('vm_old', 'r-0', new Date(Date.now() - 3_000_000)); // from an earlier fork: not this operation's
    await vm('vm_a', 'r-1', new Date());
    await vm('vm_b', 'r-2', new Date());
    const unfinished = await ops.unfinishedOperations();
    expect(unfinished.map((u) => [u.id, u.vms.map((v) => v.name).sort()])).toEqual([['task_cut', ['r-1', 'r-2']]]);
    await db().vm.delete({ where: { id: 'vm_b' } }); // what reconcile does to a half-made child
    const failed = await ops.failInterrupted(core, unfinished, { adopted: ['vm_a', 'vm_old'], crashed: [], cleaned: ['vm_b'] });
    expect(failed).toEqual(['task_cut']);
    const row = await ops.getOperation('task_cut');
    expect(row).toMatchObject({ state: 'failed' });
    expect(row!.error).toBe('Interrupted by a restart of the console; it left 1 running child(ren) adopted (r-1); 1 unfinished VM(s) cleaned up (r-2). Run it again if it is still wanted.');
    expect(await ops.failInterrupted(core, unfinished, { adopted: [], crashed: [], cleaned: [] })).toEqual([]); // once only
    await db().vm.deleteMany({});
    await db().template.deleteMany({});
  });
});

describe('reset of many', () => {
  it('answers per VM and runs as one operation; one failure stops none of the others', async () => {
    const e = Engine.get();
    const op = await e.startOperation('reset', 'alice', (ctx) => e.resetMany(['ghost-a', 'ghost-b'], ctx));
    const r = await op.promise;
    expect(r.results).toEqual([
      { ref: 'ghost-a', ok: false, error: 'No VM named "ghost-a"; list VMs with `instaclone ls`.' },
      { ref: 'ghost-b', ok: false, error: 'No VM named "ghost-b"; list VMs with `instaclone ls`.' },
    ]);
    expect(await e.operation(op.id)).toMatchObject({ kind: 'reset', state: 'succeeded', actor: 'alice', result: r });
  });
});

describe('operations over REST', () => {
  let operator = '';
  const post = (url: string, headers: Record<string, string> = {}) =>
    forkRoute.POST(new Request(url, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ count: 1 }) }), {
      params: Promise.resolve({ ref: 'ghost' }),
    });
  const get = (route: typeof taskRoute, id: string) =>
    route.GET(new Request(`http://console.test/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${operator}` } }), { params: Promise.resolve({ id }) });

  beforeAll(async () => {
    operator = (await createToken('ops-test', 'operator')).secret;
  });

  it('knows when the caller asks not to wait', () => {
    const r = (url: string, prefer?: string) => new Request(url, prefer ? { headers: { prefer } } : {});
    expect(wantsAsync(r('http://h/x?wait=0'))).toBe(true);
    expect(wantsAsync(r('http://h/x', 'respond-async, wait=10'))).toBe(true);
    expect(wantsAsync(r('http://h/x', 'return=minimal'))).toBe(false);
    expect(wantsAsync(r('http://h/x?wait=1'))).toBe(false);
    expect(wantsAsync(r('http://h/x'))).toBe(false);
  });

  it('answers 202 {operationId} at once with ?wait=0 or Prefer: respond-async; the id leads to the outcome', async () => {
    for (const [url, headers] of [
      ['http://console.test/api/v1/templates/ghost/fork?wait=0', {}],
      ['http://console.test/api/v1/templates/ghost/fork', { prefer: 'respond-async' }],
    ] as const) {
      const res = await post(url, headers);
      expect(res.status).toBe(202);
      const body = await res.json();
      expect(body).toEqual({ operationId: expect.stringMatching(/^task_/), state: 'running' });
      expect(res.headers.get('location')).toBe(`/api/v1/tasks/${body.operationId}`);
      let op: { state: string; error?: string } = { state: 'running' };
      for (let i = 0; i < 100 && op.state === 'running'; i++) {
        op = await (await get(taskRoute, body.operationId)).json();
        if (op.state === 'running') await new Promise((r) => setTimeout(r, 50));
      }
      expect(op).toMatchObject({ state: 'failed', kind: 'fork', error: expect.stringMatching(/^No template named "ghost"/) });
      expect(await (await get(opRoute, body.operationId)).json()).toMatchObject({ id: body.operationId, state: 'failed' });
    }
  });

  it('waits by default and answers as before (the error here), and says when an id is unknown', async () => {
    const res = await post('http://console.test/api/v1/templates/ghost/fork');
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(/^No template named "ghost"/);
    const missing = await get(taskRoute, 'task_nothere');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toBe('No operation "task_nothere"; list recent ones with GET /api/v1/tasks.');
  });
});
