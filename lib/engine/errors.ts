// One error type for everything the engine refuses or fails at. The message is written for the
// operator: what was wrong and what to do. `code` maps to an HTTP status at the REST boundary.
export type EngineErrorCode =
  | 'invalid' // bad input (422)
  | 'not_found' // unknown VM, template or image (404)
  | 'conflict' // wrong state, name taken, dependants exist (409)
  | 'insufficient' // admission control: not enough memory, disk, slots (507)
  | 'unavailable' // nothing ready yet, try again shortly (503): a pool with no spare
  | 'forbidden' // role does not allow it (403)
  | 'unauthorized' // no or bad credentials (401)
  | 'too_large' // request body over its cap (413)
  | 'too_many' // rate limited (429)
  | 'quota' // over the user's or token's quota (403)
  | 'qemu' // QEMU or the guest misbehaved (500)
  | 'internal'; // anything else (500)

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly details?: unknown;
  constructor(code: EngineErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.details = details;
  }
}

export const httpStatus: Record<EngineErrorCode, number> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  insufficient: 507,
  unavailable: 503,
  forbidden: 403,
  unauthorized: 401,
  too_large: 413,
  too_many: 429,
  quota: 403,
  qemu: 500,
  internal: 500,
};

/**
 * Duck-typed on purpose: Next.js bundles the engine (started from instrumentation.ts) separately from
 * the route handlers, so an EngineError thrown there is not an instance of this module's class.
 */
export function isEngineError(e: unknown): e is EngineError {
  if (e instanceof EngineError) return true;
  const x = e as { name?: unknown; code?: unknown; message?: unknown } | null;
  return !!x && typeof x.message === 'string' && typeof x.code === 'string' && Object.hasOwn(httpStatus, x.code);
}
