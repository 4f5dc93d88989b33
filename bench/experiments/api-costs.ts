// What one authenticated `GET /api/v1/ls` costs in the route handler, with and without the caches
// (lib/auth/cache.ts for the token, Engine.list's cache kept until the next database write), in
// one process on a real SQLite database holding 1 template and N VM rows. No HTTP, no Next.js:
// the part our code controls.   npx tsx bench/experiments/api-costs.ts [N=10] [calls=500]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const N = Number(process.argv[2] ?? 10);
const CALLS = Number(process.argv[3] ?? 500);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-apicost-'));
process.env.INSTACLONE_HOME = home;
process.env.INSTACLONE_RUN = fs.mkdtempSync('/dev/shm/ic-apicost-run-');
process.env.DATABASE_URL = `file:${home}/db.sqlite`;

const { migrate, db, disconnectDb } = await import('../../lib/db');
await migrate();
const { createToken } = await import('../../lib/auth/tokens');
const { invalidateAuthCache } = await import('../../lib/auth/cache');
const { route } = await import('../../lib/api/handler');
const { Engine } = await import('../../lib/engine');
const e = Engine.get();
await db().template.create({ data: { id: 'tpl_x', name: 'x', state: 'frozen', image: 'tiny', memoryMiB: 256, dir: '/x', ramPath: '/x/ram', statePath: '/x/s', diskPath: '/x/d' } });
for (let i = 0; i < N; i++) {
  await db().vm.create({ data: { id: `vm_${i}`, name: `x-${i}`, kind: 'child', state: 'running', image: 'tiny', memoryMiB: 256, runDir: `/x/${i}`, templateId: 'tpl_x' } });
}
const t = await createToken('bench', 'viewer');
let ls = route('viewer', async () => e.list());
let req = () => new Request('http://c.test/api/v1/ls', { headers: { host: 'c.test', authorization: `Bearer ${t.secret}` } });

async function time(label: string, before: () => Promise<void> | void) {
  const xs: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    await before();
    const t0 = performance.now();
    const r = await ls(req());
    await r.text();
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  const med = xs[xs.length >> 1];
  console.log(`${label}: median ${med.toFixed(3)} ms, p99 ${xs[Math.floor(xs.length * 0.99)].toFixed(3)} ms per request (${CALLS} calls, ${N} VMs)`);
  return med;
}
// "uncached": forget the token and make the list stale before every call (a write that changes nothing)
const uncached = await time('no caches (token looked up, lastUsed throttled, list recomputed)', async () => {
  invalidateAuthCache();
  await db().setting.upsert({ where: { key: 'bench.x' }, create: { key: 'bench.x', value: '1' }, update: { value: '1' } });
});
const cached = await time('caches (token and list kept)', () => undefined);
console.log(`ratio: ${(uncached / cached).toFixed(1)}x`);
// the answer serialised per request (Response.json, as before lib/api/respond.ts) vs once per change, and a 304
const plain = route('viewer', async () => Response.json(await e.list()));
const serialisedOnce = ls;
ls = plain;
const perRequest = await time('caches, body serialised per request (Response.json)', () => undefined);
ls = serialisedOnce;
const once = await time('caches, body serialised once per change (ETag)', () => undefined);
const tag = (await ls(req())).headers.get('etag')!;
const withTag = () => new Request('http://c.test/api/v1/ls', { headers: { host: 'c.test', authorization: `Bearer ${t.secret}`, 'if-none-match': tag } });
const req0 = req;
req = withTag;
const notModified = await time('caches, revalidated with If-None-Match (304)', () => undefined);
req = req0;
console.log(`per request ÷ once: ${(perRequest / once).toFixed(2)}x; per request ÷ 304: ${(perRequest / notModified).toFixed(2)}x`);
await disconnectDb();
fs.rmSync(home, { recursive: true, force: true });
fs.rmSync(process.env.INSTACLONE_RUN!, { recursive: true, force: true });
