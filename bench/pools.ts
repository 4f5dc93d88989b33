// The pool scenario of `npm run bench`: a pool of N spares, claims at the REST API (the real route
// handler behind a real HTTP hop, with token auth), a burst of N concurrent claims against N ready
// spares, and the refill rate — in the same run as the cold boot and the fork of one child.
import http from 'node:http';
import type { Engine } from '../lib/engine';
import { poolCreateSchema } from '../lib/validations/pools';

export interface PoolBenchResult {
  spares: number;
  fillMs: number;
  refillPerSec: number;
  seqClaimMs: number[];
  burst: { count: number; totalMs: number; claimMs: number[]; engineClaimMs: number[]; sources: Record<string, number> };
}

/** A local HTTP server that hands every request to the claim route handler (as `next start` would). */
async function claimServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const route = await import('../app/api/v1/pools/[name]/claim/route');
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const name = decodeURIComponent(/^\/api\/v1\/pools\/([^/]+)\/claim$/.exec(req.url ?? '')?.[1] ?? '');
    const r = await route.POST(new Request(`http://localhost${req.url}`, { method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) }), {
      params: Promise.resolve({ name }),
    });
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(await r.text());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

export async function poolBench(E: Engine, template: string, spares: number, seqClaims: number, log: (...a: unknown[]) => void): Promise<PoolBenchResult> {
  const { createToken } = await import('../lib/auth/tokens');
  const tok = (await createToken('bench', 'operator')).secret;
  const srv = await claimServer();
  const agent = new http.Agent({ keepAlive: true, maxSockets: spares });
  const claim = (pool: string) =>
    new Promise<{ ms: number; body: { vm: { id: string; name: string }; claimMs: number; source: string } }>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(`${srv.url}/api/v1/pools/${pool}/claim`, { method: 'POST', agent, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, body: JSON.parse(text) }) : reject(new Error(`claim: HTTP ${res.statusCode}: ${text}`))));
      });
      req.on('error', reject);
      req.end('{}');
    });
  const P = await E.pools();
  const name = `bench-pool-${Date.now().toString(36)}`;
  try {
    const t0 = performance.now();
    await P.create(poolCreateSchema.parse({ name, template, size: spares, spares }));
    await P.waitReady(name, spares, 30 * 60_000);
    const fillMs = performance.now() - t0;
    log(`pool ${name}: ${spares} spares ready in ${Math.round(fillMs)} ms (${(spares / (fillMs / 1000)).toFixed(2)} spares/s)`);
    // one claim at a time, each released (reset: back to a spare) before the next
    const seqClaimMs: number[] = [];
    for (let i = 0; i < seqClaims; i++) {
      const c = await claim(name);
      seqClaimMs.push(c.ms);
      await P.release(c.body.vm.id);
    }
    await P.waitReady(name, spares, 10 * 60_000);
    // the burst: every spare claimed at once
    const b0 = performance.now();
    const all = await Promise.all(Array.from({ length: spares }, () => claim(name)));
    const totalMs = performance.now() - b0;
    const sources: Record<string, number> = {};
    for (const c of all) sources[c.body.source] = (sources[c.body.source] ?? 0) + 1;
    log(`burst: ${spares} claims in ${Math.round(totalMs)} ms (${JSON.stringify(sources)})`);
    return {
      spares,
      fillMs,
      refillPerSec: spares / (fillMs / 1000),
      seqClaimMs,
      burst: { count: spares, totalMs, claimMs: all.map((c) => c.ms), engineClaimMs: all.map((c) => c.body.claimMs), sources },
    };
  } finally {
    agent.destroy();
    await srv.close();
    await P.remove(name).catch(() => undefined);
  }
}
