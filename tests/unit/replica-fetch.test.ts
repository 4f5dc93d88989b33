// A replica file from another agent (lib/cluster/replicate.ts fetchFile) against a local HTTP server
// playing the sending agent: a sender that keeps streaming is cut off at the manifest's size (it
// cannot fill this host's tmpfs), a planted link at the part file is never followed, and a good copy
// lands only when its sha256 matches.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const secret = 's'.repeat(40);
process.env.INSTACLONE_AGENT_SECRET = secret;
const { fetchFile } = await import('@/lib/cluster/replicate');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-replica-fetch-'));
const good = Buffer.alloc(256 * 1024, 7);
const sha = createHash('sha256').update(good).digest('hex');
let server: http.Server;
let url = '';
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(String(req.headers.authorization));
    if (req.url?.includes('/endless/')) {
      res.writeHead(200); // a sender that never stops
      const more = () => {
        while (res.write(Buffer.alloc(64 * 1024, 1)));
      };
      res.on('drain', more);
      res.on('error', () => undefined);
      more();
      return;
    }
    res.writeHead(200, { 'content-length': good.length });
    res.end(good);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('replica download', () => {
  it('stops a sender at the size its manifest gave and keeps nothing', async () => {
    const dest = path.join(dir, 'ram');
    const e = await fetchFile({ name: 'b', url }, 'endless', 'ram', { size: good.length, sha256: sha }, dest).then(() => null, (x: Error) => x);
    expect(e?.message).toMatch(/^Host "b" sent more than the 262144 bytes its manifest gives for the template's ram file/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('never writes through a link planted at the part file, and puts a verified copy in place read-only', async () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'precious');
    const dest = path.join(dir, 'disk');
    fs.symlinkSync(victim, `${dest}.part`);
    await fetchFile({ name: 'b', url }, 'tpl', 'disk', { size: good.length, sha256: sha }, dest);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.readFileSync(dest).equals(good)).toBe(true);
    expect(fs.statSync(dest).mode & 0o777).toBe(0o444);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
    expect(seen.at(-1)).toBe(`Bearer ${secret}`);
  });

  it('refuses a copy whose sha256 differs, and keeps nothing of it', async () => {
    const dest = path.join(dir, 'state');
    const e = await fetchFile({ name: 'b', url }, 'tpl', 'state', { size: good.length, sha256: '0'.repeat(64) }, dest).then(() => null, (x: Error) => x);
    expect(e?.message).toMatch(/has sha256 [0-9a-f]{64}, expected 0{64}: the copy is damaged/);
    expect(fs.existsSync(dest) || fs.existsSync(`${dest}.part`)).toBe(false);
  });
});
