// One wrapper for every REST route: who is asking, may they, parse the body with the shared schema,
// and turn any error into {error} with the right status. Errors are values, never stack traces.
import { z } from 'zod';
import { principalFrom, require, type Principal, type Role } from '../auth';
import { sessionIdFrom } from '../auth/sessions';
import { EngineError, httpStatus, isEngineError, type EngineErrorCode } from '../engine/errors';
import type { LongService } from '../services/service';
import { describeZodError } from '../validations';
import { operationResponse, wantsAsync } from './operation';
import { jsonResponse } from './respond';

export interface Ctx {
  req: Request;
  principal: Principal;
  params: Record<string, string>;
}

type RouteCtx = { params: Promise<Record<string, string>> };

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Cookie-authenticated changes must come from our own pages (tokens carry no ambient authority). */
export function checkSameOrigin(req: Request, principal: Principal) {
  if (principal.kind !== 'session' || !UNSAFE.has(req.method)) return;
  checkOrigin(req);
}

/** The request comes from this console's own pages (Sec-Fetch-Site and Origin), e.g. log-in forms (login CSRF); server actions pass next/headers' headers. */
export function checkOrigin(req: { headers: Pick<Headers, 'get'> }) {
  const site = req.headers.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') {
    throw new EngineError('forbidden', 'Cross-site request refused.');
  }
  const origin = req.headers.get('origin');
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host');
  if (!origin || !host || new URL(origin).host !== host) {
    throw new EngineError('forbidden', 'Cross-site request refused: the Origin header does not match this console.');
  }
}

export function cookieValue(req: Request, name: string): string | undefined {
  const raw = req.headers.get('cookie');
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export async function authenticate(req: Request, role: Role): Promise<Principal> {
  const principal = require(await principalFrom(req.headers, sessionIdFrom((n) => cookieValue(req, n))), role);
  checkSameOrigin(req, principal);
  return principal;
}

/** A full tmpfs or disk surfaces from QEMU, qemu-img or SQLite in many forms: say it once, plainly. */
function diskFull(e: unknown): EngineError | null {
  const msg = String((e as Error)?.message ?? e);
  if (!/ENOSPC|No space left on device|SQLITE_FULL|database or disk is full/i.test(msg)) return null;
  return new EngineError(
    'insufficient',
    'The host ran out of space (INSTACLONE_RUN tmpfs or INSTACLONE_HOME disk) while doing this; nothing of the failed operation was kept. Free space or fork fewer children, then try again.',
  );
}

/** Any error as what the caller sees: one sentence, a code and its HTTP status (REST and server actions). */
export function errorValue(e: unknown): { error: string; code: EngineErrorCode; status: number } {
  const full = diskFull(e);
  if (full) e = full;
  if (isEngineError(e)) return { error: e.message, code: e.code, status: httpStatus[e.code] };
  if (e instanceof z.ZodError) return { error: describeZodError(e), code: 'invalid', status: 422 };
  // the details go to the server's log, not to whoever sent the request
  console.error('instaclone: unexpected error', e);
  return { error: 'The console failed unexpectedly while doing this; its log on the server says why. Try again, or report it with the time.', code: 'internal', status: 500 };
}

export function errorResponse(e: unknown): Response {
  const { status, ...body } = errorValue(e);
  return Response.json(body, { status });
}

/** Body caps (bytes): every route reads its body through readJson. */
export const BODY_LIMIT = 64 * 1024;
export const SMALL_BODY_LIMIT = 4 * 1024;

/** Reads at most `limit` bytes (refused by Content-Length up front, or as soon as the stream passes it). */
async function readCapped(req: Request, limit: number): Promise<string> {
  const tooLarge = () => new EngineError('too_large', `The request body is larger than ${Math.round(limit / 1024)} KiB: send less.`);
  if (Number(req.headers.get('content-length') ?? 0) > limit) throw tooLarge();
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: Request, limit = BODY_LIMIT): Promise<unknown> {
  const text = await readCapped(req, limit);
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new EngineError('invalid', 'The request body is not valid JSON.');
  }
}

export function route(role: Role, fn: (ctx: Ctx) => Promise<unknown>) {
  return async (req: Request, rc?: RouteCtx): Promise<Response> => {
    try {
      const principal = await authenticate(req, role);
      const params = rc?.params ? await rc.params : {};
      const result = await fn({ req, principal, params });
      if (result instanceof Response) return result;
      return jsonResponse(req, result ?? { ok: true });
    } catch (e) {
      return errorResponse(e);
    }
  };
}

/**
 * A route that is only a door to a service: authenticate with the service's role, build its raw input
 * from the request (body fields plus the path's ref), call it, answer its result as JSON.
 */
export function serve(svc: { role: Role; (actor: Principal, raw?: unknown): Promise<unknown> }, input: (ctx: Ctx) => unknown = () => ({})) {
  return route(svc.role, async (ctx) => svc(ctx.principal, await input(ctx)));
}

/** The body's fields and the path's `ref` (the route's [ref] or [name] segment). */
export async function bodyAndRef({ req, params }: Ctx): Promise<unknown> {
  const body = await readJson(req);
  const ref = params.ref ?? params.name ?? params.id;
  return body && typeof body === 'object' && !Array.isArray(body) ? { ...body, ref } : body; // not an object: the service's schema says so
}
export const refOnly = ({ params }: Ctx) => ({ ref: params.ref ?? params.name ?? params.id });

/**
 * The door to a long action: waits and answers its result as before, or with `?wait=0` /
 * `Prefer: respond-async` answers 202 with the operation's id at once (lib/api/operation.ts). A
 * waiting caller that goes away cancels what can be cancelled (an image conversion).
 */
export function serveOperation(svc: LongService<z.ZodType, unknown, boolean>, input: (ctx: Ctx) => unknown = () => ({})) {
  return route(svc.role, async (ctx) => {
    const detached = wantsAsync(ctx.req);
    return operationResponse(ctx.req, await svc.start(ctx.principal, await input(ctx), { detached, signal: detached ? undefined : ctx.req.signal }));
  });
}
