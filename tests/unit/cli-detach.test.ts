// CLI and operations: long actions wait and print their result as before; --detach asks the console
// not to wait (?wait=0) and prints {"operation": ID}; `instaclone operation ID` reads one back.
// The console here is a stand-in HTTP server that records what the CLI asked.
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const asked: string[] = [];
let url = '';
const server = http.createServer((req, res) => {
  asked.push(`${req.method} ${req.url}`);
  const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  req.resume().on('end', () => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/api/v1/tasks/task_abc') return json(200, { id: 'task_abc', kind: 'fork', state: 'failed', targetName: 'web', progress: 0.4, error: 'Interrupted by a restart of the console; it left nothing behind.' });
    if (u.searchParams.get('wait') === '0') return json(202, { operationId: 'task_abc', state: 'running' });
    if (u.pathname === '/api/v1/templates/web/fork') return json(200, { children: [], timings: { totalMs: 5, perChildMs: [] } });
    if (u.pathname === '/api/v1/vms/reset') return json(200, { results: [{ ref: 'web-1', ok: true, vm: { name: 'web-1', state: 'running' } }, { ref: 'web-9', ok: false, error: 'No VM named "web-9".' }] });
    if (u.pathname === '/api/v1/vms/web-1/reset') return json(200, { name: 'web-1', state: 'running' });
    if (u.pathname === '/api/v1/pools/desk/push') return json(200, { name: 'desk', ready: 1, spares: 1, claimed: 0, refilling: 0, size: 2, template: 'web2' });
    json(404, { error: 'not here' });
  });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(path.join(root, 'bin/instaclone'), args, { env: { ...process.env, INSTACLONE_URL: url, INSTACLONE_TOKEN: 't' } }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('CLI operations', () => {
  it('waits by default and prints the result as before', async () => {
    const r = await cli(['fork', 'web', '--count', '2', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ children: [], timings: { totalMs: 5, perChildMs: [] } });
    expect(asked.at(-1)).toBe('POST /api/v1/templates/web/fork');
  });

  it('--detach asks the console not to wait and prints {"operation": ID}', async () => {
    for (const args of [
      ['fork', 'web', '--count', '2', '--detach'],
      ['prepare', '--name', 'web', '--detach', '--json'],
      ['images', 'import', 'myvm', '--disk', '/tmp/x.qcow2', '--detach'],
      ['pool', 'push', 'desk', '--template', 'web2', '--detach'],
      ['reset', 'web-1', 'web-2', '--detach'],
    ]) {
      const r = await cli(args);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ operation: 'task_abc' });
      expect(asked.at(-1)).toMatch(/^POST \/api\/v1\/(templates|images|pools|vms)\S*\?wait=0$/);
    }
    const push = await cli(['pool', 'push', 'desk', '--template', 'web2']);
    expect(push.stdout).toMatch(/^pool desk: .*spares roll now/);
  });

  it('reset of many VMs is one request to the bulk route, each VM’s outcome printed (exit 1 when one failed); one VM keeps its own route', async () => {
    const many = await cli(['reset', 'web-1', 'web-9']);
    expect(asked.at(-1)).toBe('POST /api/v1/vms/reset');
    expect(many.stdout).toBe('web-1: running\nweb-9: No VM named "web-9".\n');
    expect(many.code).toBe(1);
    const one = await cli(['reset', 'web-1', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(asked.at(-1)).toBe('POST /api/v1/vms/web-1/reset');
    expect(JSON.parse(one.stdout)).toEqual({ name: 'web-1', state: 'running' });
  });

  it('operation ID prints its state and error; a failed one exits 1', async () => {
    const r = await cli(['operation', 'task_abc']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('fork web: failed\nInterrupted by a restart of the console; it left nothing behind.\n');
    expect(asked.at(-1)).toBe('GET /api/v1/tasks/task_abc');
  });
});
