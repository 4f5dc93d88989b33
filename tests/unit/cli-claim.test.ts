// `instaclone pool claim` always carries a request id (the caller's --request-id, or one it makes)
// and asks again with the same id when no answer came, so a lost answer never leaves a second child
// claimed. The console is a stand-in HTTP server that drops the first claim's connection.
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
let bodies: { requestId?: string; label?: string }[] = [];
let drop = 0;
let url = '';
const server = http.createServer((req, res) => {
  let text = '';
  req.on('data', (c) => (text += c)).on('end', () => {
    if (req.url !== '/api/v1/pools/desk/claim') return res.writeHead(404).end('{}');
    bodies.push(JSON.parse(text));
    if (drop-- > 0) return req.socket.destroy(); // the answer is lost on the way
    if (bodies.at(-1)!.requestId === 'taken-by-another-pool') return res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Claim request id taken-by-another-pool was already used on another pool; send a new request id.' }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ vm: { id: 'vm_1', name: 'desk-1', identity: { hostname: 'desk-1', ip: '10.0.2.15', mac: 'm' }, ports: {} }, claimMs: 2, source: 'spare', pool: 'desk' }));
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
beforeEach(() => {
  bodies = [];
  drop = 0;
});

describe('CLI pool claim request ids', () => {
  it('sends --request-id, and asks again with the same id when the answer was lost', async () => {
    drop = 1;
    const r = await cli(['pool', 'claim', 'desk', '--request-id', 'my-claim-0001', '--label', 'x', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).vm.id).toBe('vm_1');
    expect(bodies).toEqual([{ label: 'x', requestId: 'my-claim-0001' }, { label: 'x', requestId: 'my-claim-0001' }]);
  });

  it('makes an id when none is given (the same one on every retry)', async () => {
    drop = 2;
    const r = await cli(['pool', 'claim', 'desk', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(bodies).toHaveLength(3);
    expect(bodies[0].requestId).toMatch(/^[A-Za-z0-9_-]{8,100}$/);
    expect(new Set(bodies.map((b) => b.requestId)).size).toBe(1);
  });

  it('a refusal is final, and a bad id is refused before any connection', async () => {
    const r = await cli(['pool', 'claim', 'desk', '--request-id', 'taken-by-another-pool']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already used on another pool/);
    expect(bodies).toHaveLength(1);
    const bad = await cli(['pool', 'claim', 'desk', '--request-id', 'a b']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/request id is 8-100 letters/);
    expect(bodies).toHaveLength(1);
  });

  it('gives up after its retries with the one sentence about the console', async () => {
    drop = 10;
    const r = await cli(['pool', 'claim', 'desk']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot reach the Instaclone console/);
    expect(bodies).toHaveLength(3);
    expect(new Set(bodies.map((b) => b.requestId)).size).toBe(1);
  });
});
