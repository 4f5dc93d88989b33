// JSON answers of the REST routes, with an ETag on reads: a client that sends it back in
// If-None-Match gets 304 and no body while the answer is unchanged (wall screens, browsers and
// scripts polling `ls`). The ETag is a hash of the very bytes this caller would get, so a 304 is
// never an answer meant for someone else; routes authenticate before they get here.
// A frozen value (the engine's cached `ls`, kept until the next database write) is serialised
// once: frozen means nobody can change it after its bytes were taken.
import crypto from 'node:crypto';

interface Body {
  bytes: Uint8Array<ArrayBuffer>;
  etag: string;
}

const serialised = new WeakMap<object, Body>();
const utf8 = new TextEncoder();

function encode(value: unknown): Body {
  const bytes = utf8.encode(JSON.stringify(value));
  return { bytes, etag: `"${crypto.createHash('sha1').update(bytes).digest('base64url')}"` };
}

function bodyOf(value: unknown): Body {
  if (value === null || typeof value !== 'object' || !Object.isFrozen(value)) return encode(value);
  let b = serialised.get(value);
  if (!b) serialised.set(value, (b = encode(value)));
  return b;
}

/** If-None-Match holds this ETag (a list, `*`, or a weak W/ form: RFC 9110 compares weakly for GET). */
export function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * The value as a JSON Response. GET and HEAD carry an ETag and answer 304 to a matching
 * If-None-Match; `private, no-cache`: no shared cache keeps it, every use is revalidated.
 */
export function jsonResponse(req: Request, value: unknown, status = 200): Response {
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (!read || status !== 200) return Response.json(value, { status });
  const { bytes, etag } = bodyOf(value);
  const headers = { etag, 'cache-control': 'private, no-cache', vary: 'authorization, cookie' };
  if (etagMatches(req.headers.get('if-none-match'), etag)) return new Response(null, { status: 304, headers });
  return new Response(bytes, { status, headers: { ...headers, 'content-type': 'application/json' } });
}
