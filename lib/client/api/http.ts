// One response/error handler for every client API module (lxd-ui's handleResponse).
// The server's `error` text is shown to the operator verbatim.
import type { EngineErrorCode } from '@/lib/engine/errors';

/** What a request to the console failed with: the HTTP status (0: no answer) and the engine's error code. */
export class ApiError extends Error {
  readonly status: number;
  readonly code?: EngineErrorCode;
  constructor(status: number, message: string, code?: EngineErrorCode) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'The console does not answer: is the server running?');
  }
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const d = (data ?? {}) as { error?: string; code?: EngineErrorCode };
    if (res.status === 401 && typeof window !== 'undefined' && !location.pathname.startsWith('/login')) {
      // The session ended: the login page brings the operator back here afterwards.
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new ApiError(res.status, d.error ?? `HTTP ${res.status}${text && !data ? `: ${text.slice(0, 200)}` : ''}`, d.code);
  }
  return data as T;
}

export const enc = encodeURIComponent;

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
