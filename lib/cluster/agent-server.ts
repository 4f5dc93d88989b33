// The agents' internal API: what consoles call on a host (fast path). Every request carries the
// shared secret (compared in constant time); nothing is served to anonymous callers.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { z } from 'zod';
import type { Engine } from '../engine';
import { EngineError, httpStatus, isEngineError } from '../engine/errors';
import { describeZodError, prepareSchema, vmActionSchema } from '../validations';
import { agentForkSchema } from '../validations/hosts';
import { idempotentFork } from './fork-request';
import { templateManifest } from './replicate';

const BODY_LIMIT = 64 * 1024;
const digest = (s: string) => createHash('sha256').update(s).digest();

export function checkSecret(header: string | undefined, secret: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  // equal-length digests: timingSafeEqual leaks neither the secret nor its length
  return !!m && timingSafeEqual(digest(m[1]), digest(secret));
}

/** The console's user, as the agent logs and records it (never trusted for access: the secret is; the console computes the same to find a claim); "token:ci" keeps its colon. */
export const agentActor = (raw: string | undefined): string => String(raw ?? 'console').replace(/[^\w.@:-]/g, '').slice(0, 80) || 'console';
export const actorOf = (req: http.IncomingMessage): string => agentActor(req.headers['x-instaclone-actor'] as string | undefined);

export async function body(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > BODY_LIMIT) throw new EngineError('too_large', 'The request body is larger than 64 KiB: send less.');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new EngineError('invalid', 'The request body is not valid JSON.');
  }
}

type Handler = (m: RegExpExecArray, req: http.IncomingMessage, res: http.ServerResponse) => Promise<unknown>;

export function agentRoutes(engine: Engine, info: () => Promise<unknown>): [string, RegExp, Handler][] {
  return [
    ['GET', /^\/v1\/info$/, () => info()],
    ['GET', /^\/v1\/ls$/, () => engine.list()],
    ['GET', /^\/v1\/templates\/([A-Za-z0-9_-]{1,100})\/manifest$/, async (m) => templateManifest(m[1])],
    ['POST', /^\/v1\/prepare$/, async (_m, req) => engine.prepare(prepareSchema.parse(await body(req)), { actor: actorOf(req) })],
    [
      'POST',
      /^\/v1\/fork$/,
      async (_m, req) => {
        const { template, requestId, ...input } = agentForkSchema.parse(await body(req));
        return idempotentFork(engine, requestId, template, input, actorOf(req));
      },
    ],
    [
      'POST',
      /^\/v1\/vms\/([^/]+)\/([a-z]+)$/,
      async (m, req) => {
        const action = vmActionSchema.parse(m[2]);
        const ref = decodeURIComponent(m[1]);
        const ctx = { actor: actorOf(req) };
        if (action === 'stop') return engine.stop(ref, ctx);
        if (action === 'start') return engine.startVm(ref, ctx);
        return engine.reset(ref, ctx);
      },
    ],
    ['DELETE', /^\/v1\/vms\/([^/]+)$/, async (m, req) => engine.remove(decodeURIComponent(m[1]), { actor: actorOf(req), force: new URL(req.url ?? '/', 'http://x').searchParams.get('force') === '1' })],
  ];
}

export function agentServer(secret: string, routes: [string, RegExp, Handler][], extra?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>): http.Server {
  return http.createServer(async (req, res) => {
    const send = (status: number, v: unknown) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)));
    };
    try {
      if (!checkSecret(req.headers.authorization, secret)) {
        return send(401, { error: 'This agent answers only consoles that send its shared secret (INSTACLONE_AGENT_SECRET).', code: 'unauthorized' });
      }
      if (extra && (await extra(req, res))) return;
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      for (const [method, re, fn] of routes) {
        const m = re.exec(path);
        if (m && req.method === method) return send(200, (await fn(m, req, res)) ?? { ok: true });
      }
      send(404, { error: `No such agent route: ${req.method} ${path}.`, code: 'not_found' });
    } catch (e) {
      if (isEngineError(e)) return send(httpStatus[e.code], { error: e.message, code: e.code });
      if (e instanceof z.ZodError) return send(422, { error: describeZodError(e), code: 'invalid' });
      console.error('instaclone agent: unexpected error', e);
      send(500, { error: 'The agent failed unexpectedly; its log says why.', code: 'internal' });
    }
  });
}
