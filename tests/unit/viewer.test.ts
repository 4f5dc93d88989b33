// What a viewer can read, through REST as a viewer token: states and who did what, never what was run
// in a guest or what the guest printed; and how a wall screen logs in (a POST of a viewer token only).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-viewer-'));
process.env.INSTACLONE_HOME = home;
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, disconnectDb, db } = await import('@/lib/db');
const { createToken, revokeToken } = await import('@/lib/auth/tokens');
const { Engine } = await import('@/lib/engine');
const logRoute = await import('@/app/api/v1/log/route');
const tasksRoute = await import('@/app/api/v1/tasks/route');
const taskRoute = await import('@/app/api/v1/tasks/[id]/route');
const vmRoute = await import('@/app/api/v1/vms/[ref]/route');
const tplRoute = await import('@/app/api/v1/templates/[ref]/route');
const serialRoute = await import('@/app/api/v1/vms/[ref]/serial/route');
const screenRoute = await import('@/app/api/v1/vms/[ref]/screen/route');
const eventsRoute = await import('@/app/api/events/route');
const tokenLogin = await import('@/app/api/auth/token-login/route');

// every secret below contains this word; a viewer's answers must never
const SECRET = 'hunter2';
let viewer = '';
let operator = '';

const get = (url: string, secret: string) => new Request(`http://console.test${url}`, { headers: { host: 'console.test', authorization: `Bearer ${secret}` } });
const ref = (r: string) => ({ params: Promise.resolve({ ref: r }) });
const text = async (res: Response) => {
  expect(res.status).toBe(200);
  return res.text();
};

beforeAll(async () => {
  await migrate();
  viewer = (await createToken('wall', 'viewer')).secret;
  operator = (await createToken('ops', 'operator')).secret;
  const warmup = [{ cmd: `echo ${SECRET} > /etc/pw`, exitCode: 0, stdout: `${SECRET}\n`, stderr: '', ms: 12 }];
  await db().template.create({
    data: { id: 'tpl_v', name: 'web', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: home, ramPath: 'r', statePath: 's', diskPath: 'd', warmup: JSON.stringify(warmup), error: null },
  });
  await db().vm.create({
    data: {
      id: 'vm_v', name: 'web-1', kind: 'child', state: 'crashed', image: 'tiny', memoryMiB: 256, runDir: home, templateId: 'tpl_v',
      lastSerial: `login: root\nPassword: ${SECRET}`,
      error: `The parent of "web" did not become ready: no guest agent answered within 300 s after power-on (its serial console last said: "pw ${SECRET}"; a picture of its screen is in /x/p.png). Check that the disk boots.`,
    },
  });
  await db().task.createMany({
    data: [
      {
        id: 'task_ok', kind: 'prepare', state: 'succeeded', targetName: 'web', actor: 'ops',
        log: `2026-12-02T01:00:00.000Z boot: parent booted in 5 ms\n2026-12-02T01:00:01.000Z warmup: warm-up: echo ${SECRET} \\\nmore ${SECRET}\n2026-12-02T01:00:02.000Z freeze\n`,
        result: JSON.stringify({ id: 'tpl_v', name: 'web', warmup }),
      },
      {
        id: 'task_bad', kind: 'prepare', state: 'failed', targetName: 'web2', actor: 'ops',
        log: `2026-12-02T01:00:03.000Z failed: Warm-up command "cat /pw # ${SECRET}" failed with exit code 3 (${SECRET} / "x") (y); fix the command and prepare again.\n`,
        error: `Warm-up command "cat /pw # ${SECRET}" failed with exit code 3 (${SECRET} / "x") (y); fix the command and prepare again.`,
      },
    ],
  });
  await db().event.createMany({
    data: [
      { actor: 'ops', action: 'exec', targetName: 'web-1', result: 'ok', message: `mysql -p${SECRET} -e 'select 1' -> exit 0` },
      { actor: 'ops', action: 'prepare', targetName: 'web2', result: 'error', message: `Warm-up command "cat /pw # ${SECRET}" failed with exit code 3 (${SECRET}); fix the command and prepare again.` },
      { actor: 'ops', action: 'stop', targetName: 'web-1', result: 'ok' },
    ],
  });
}, 60_000);

afterAll(async () => {
  Engine.reset();
  await disconnectDb();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('a viewer through REST', () => {
  it('reads the event log with who did what and exit codes, but no command lines or warm-up output', async () => {
    const body = await text(await logRoute.GET(get('/api/v1/log', viewer)));
    expect(body).not.toContain(SECRET);
    const { events } = JSON.parse(body) as { events: { action: string; message: string | null; actor: string }[] };
    expect(events.map((e) => [e.action, e.actor, e.message])).toEqual([
      ['stop', 'ops', null],
      ['prepare', 'ops', 'A warm-up command failed with exit code 3 ([hidden from viewers]); fix the command and prepare again.'],
      ['exec', 'ops', '[hidden from viewers] -> exit 0'],
    ]);
    // an operator reads them whole
    expect(await text(await logRoute.GET(get('/api/v1/log', operator)))).toContain(`mysql -p${SECRET}`);
  });

  it('reads tasks with their steps and timings, but not warm-up commands, their output or the failure text', async () => {
    const body = await text(await tasksRoute.GET(get('/api/v1/tasks', viewer)));
    expect(body).not.toContain(SECRET);
    // the list carries each operation as GET /api/v1/tasks/ID does: the result parsed
    const tasks = (JSON.parse(body) as { tasks: { id: string; log: string; result: { warmup?: unknown } | null }[] }).tasks;
    const ok = tasks.find((t) => t.id === 'task_ok')!;
    expect(ok.log).toContain('boot: parent booted in 5 ms');
    expect(ok.log).toContain('warmup: warm-up: [hidden from viewers]\n2026-12-02T01:00:02.000Z freeze');
    expect(ok.result!.warmup).toEqual([{ cmd: '[hidden from viewers]', exitCode: 0, ms: 12 }]);
    expect(await text(await tasksRoute.GET(get('/api/v1/tasks', operator)))).toContain(`more ${SECRET}`);
    // one operation by its id, as the CLI follows it
    const op = await text(await taskRoute.GET(get('/api/v1/tasks/task_ok', viewer), { params: Promise.resolve({ id: 'task_ok' }) }));
    expect(op).not.toContain(SECRET);
    expect(JSON.parse(op).result.warmup).toEqual([{ cmd: '[hidden from viewers]', exitCode: 0, ms: 12 }]);
  });

  it('reads a VM and a template without serial lines or warm-up records', async () => {
    const vm = await text(await vmRoute.GET(get('/api/v1/vms/web-1', viewer), ref('web-1')));
    expect(vm).not.toContain(SECRET);
    expect(JSON.parse(vm)).toMatchObject({ name: 'web-1', state: 'crashed', lastSerial: '[hidden from viewers]' });
    expect(JSON.parse(vm).error).toContain('its serial console last said: [hidden from viewers]; a picture');
    const tpl = await text(await tplRoute.GET(get('/api/v1/templates/web', viewer), ref('web')));
    expect(tpl).not.toContain(SECRET);
    expect(JSON.parse(tpl).warmup).toEqual([{ cmd: '[hidden from viewers]', exitCode: 0, ms: 12 }]);
    expect(await text(await vmRoute.GET(get('/api/v1/vms/web-1', operator), ref('web-1')))).toContain(SECRET);
    expect(await text(await tplRoute.GET(get('/api/v1/templates/web', operator), ref('web')))).toContain(SECRET);
  });

  it('gets no serial stream and no screen (403 with the reason)', async () => {
    const serial = await serialRoute.GET(get('/api/v1/vms/web-1/serial', viewer), ref('web-1'));
    expect(serial.status).toBe(403);
    expect((await serial.json()).error).toBe('This needs the operator role; token:wall is viewer.');
    expect((await screenRoute.GET(get('/api/v1/vms/web-1/screen', viewer), ref('web-1'))).status).toBe(403);
  });

  it('follows live task progress without the warm-up command being shown', async () => {
    const ac = new AbortController();
    const res = await eventsRoute.GET(new Request('http://console.test/api/events', { headers: { host: 'console.test', authorization: `Bearer ${viewer}` }, signal: ac.signal }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const seen: string[] = [];
    const read = async () => seen.push(new TextDecoder().decode((await reader.read()).value));
    await read(); // hello
    Engine.get().events.emit('event', { type: 'task', id: 't1', kind: 'prepare', state: 'running', step: 'warmup', message: `warm-up: echo ${SECRET}` });
    Engine.get().events.emit('event', { type: 'task', id: 't0', kind: 'prepare', state: 'succeeded', result: { warmup: [{ cmd: `echo ${SECRET}`, stdout: SECRET, exitCode: 0, ms: 1 }] } });
    Engine.get().events.emit('event', { type: 'task', id: 't1', kind: 'prepare', state: 'failed', error: `Warm-up command "x${SECRET}" failed with exit code 1 (${SECRET}); fix the command and prepare again.` });
    for (let i = 0; i < 5 && !seen.join('').includes('"state":"failed"'); i++) await read();
    ac.abort();
    const all = seen.join('');
    expect(all).toContain('"step":"warmup","message":"warm-up: [hidden from viewers]"');
    expect(all).toContain('A warm-up command failed with exit code 1');
    expect(all).toContain('"warmup":[{"cmd":"[hidden from viewers]","exitCode":0,"ms":1}]');
    expect(all).not.toContain(SECRET);
  });
});

describe('token log-in (wall screens)', () => {
  const post = (body: unknown, headers: Record<string, string> = { host: 'console.test', origin: 'http://console.test', 'content-type': 'application/json' }) =>
    tokenLogin.POST(new Request('http://console.test/api/auth/token-login', { method: 'POST', headers, body: JSON.stringify(body) }));

  it('is a POST: a token in a GET URL is refused (it would land in logs and history)', async () => {
    const res = tokenLogin.GET();
    expect(res.status).toBe(410);
    expect((await res.json()).error).toContain('/token-login#token=');
  });

  it('checks the Origin (login CSRF)', async () => {
    expect((await post({ token: viewer }, { host: 'console.test', origin: 'http://evil.example', 'content-type': 'application/json' })).status).toBe(403);
    expect((await post({ token: viewer }, { host: 'console.test', 'content-type': 'application/json' })).status).toBe(403);
  });

  it('opens a session for a viewer token only, and follows only paths on the console', async () => {
    const ok = await post({ token: viewer, next: '/wall' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, next: '/wall' });
    expect(ok.headers.get('set-cookie')).toMatch(/^ic_session=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    expect((await (await post({ token: viewer, next: '/\\evil.example' })).json()).next).toBe('/');
    const op = await post({ token: operator });
    expect(op.status).toBe(403);
    expect((await op.json()).error).toBe('Only a viewer token opens a console session (wall screens); this one is operator: use it with the CLI or API, and log in with a user name and password in the browser.');
    const sessions = await db().session.findMany();
    expect(sessions.map((s) => s.role)).toEqual(['viewer', 'viewer']);
  });

  it('refuses an unknown or revoked token, and logs the failure', async () => {
    const t = await createToken('gone', 'viewer');
    await revokeToken(t.id);
    const res = await post({ token: t.secret });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('This token is unknown or revoked: ask an admin for a new one.');
    expect(await db().event.count({ where: { action: 'login', result: 'error' } })).toBeGreaterThanOrEqual(2);
  });

  it('limits failed token log-ins per address (not under one shared name), then refuses even a good token', async () => {
    const { LOGIN_LIMITS } = await import('@/lib/auth/login-limit');
    let refusedAt = 0;
    for (let i = 1; i <= LOGIN_LIMITS.perAddress + 1 && !refusedAt; i++) if ((await post({ token: `ic_bad${i}` })).status === 429) refusedAt = i;
    // ten bad tries do not lock token log-in for everyone; the address limit does
    expect(refusedAt).toBeGreaterThan(10);
    const res = await post({ token: viewer });
    expect(res.status).toBe(429);
    expect((await res.json()).error).toMatch(/^Too many failed log-ins from this address: wait \d+ minutes? and try again\.$/);
  });
});
