// The server-action side of a service: who is logged in (the session cookie, as the REST routes read
// it), then the same service the route calls. Errors come back as values ({ok:false,error,code}), never
// thrown to the page. Next.js refuses a server action whose Origin is another host's, but lets one with
// no Origin through; like cookie-authenticated REST calls (checkSameOrigin), a signed-in caller's action
// must come from this console's own pages: Origin present and ours, Sec-Fetch-Site not cross-site.
import { headers } from 'next/headers';
import { currentPrincipal } from '@/components/auth/session';
import type { EngineErrorCode } from '../engine/errors';
import { checkOrigin, errorValue } from './handler';
import type { Actor } from '../services/service';

export type ActionResult<T> = { ok: true; data: T } | { ok: false; error: string; code: EngineErrorCode };

export async function runAction<T>(svc: (actor: Actor | null, raw?: unknown) => Promise<T>, raw?: unknown): Promise<ActionResult<T>> {
  try {
    const principal = await currentPrincipal();
    if (principal) checkOrigin({ headers: await headers() }); // no session: the service says "log in first"
    return { ok: true, data: await svc(principal, raw) };
  } catch (e) {
    const { error, code } = errorValue(e);
    return { ok: false, error, code };
  }
}

/** What a long action's server action answers at once: the operation to follow (lib/client/use-operation.ts). */
export interface Started<T = unknown> {
  operationId: string;
  /** never sent: carries the result's type to whoever follows the id (untilDone, useOperation) */
  readonly __result?: T;
}

/**
 * A long action (prepare, fork, …) as a server action: role and input are checked now (a refusal
 * comes back as the action's error, with no operation), then it answers the operation's id at once
 * and the work runs on. Waiting for it here would block the page's other server actions: Next.js
 * runs one at a time per page.
 */
export async function runStart<T>(svc: { start(actor: Actor | null, raw?: unknown): Promise<{ id: string; promise: Promise<T> }> }, raw?: unknown): Promise<ActionResult<Started<T>>> {
  return runAction(async (actor, r): Promise<Started<T>> => ({ operationId: (await svc.start(actor, r)).id }), raw);
}
