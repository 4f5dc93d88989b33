// Long actions over REST (DESIGN.md "Contracts"): by default the route waits and answers with the
// result, as it always has (the operation's id in the `X-Instaclone-Operation` header); with
// `?wait=0` or `Prefer: respond-async` it answers 202 `{operationId, state}` at once, and the caller
// follows the id on /api/events or with `GET /api/v1/tasks/ID`.
import type { Operation } from '../engine';

export const OPERATION_HEADER = 'x-instaclone-operation';

export function wantsAsync(req: Request): boolean {
  const wait = new URL(req.url).searchParams.get('wait');
  if (wait === '0' || wait === 'false') return true;
  return /(^|[,;\s])respond-async(\s*($|[,;]))/i.test(req.headers.get('prefer') ?? '');
}

export async function operationResponse<T>(req: Request, op: Operation<T>): Promise<Response> {
  if (wantsAsync(req)) {
    return Response.json(
      { operationId: op.id, state: 'running' },
      { status: 202, headers: { location: `/api/v1/tasks/${op.id}`, [OPERATION_HEADER]: op.id, 'preference-applied': 'respond-async' } },
    );
  }
  const result = await op.promise;
  return Response.json(result ?? { ok: true }, { headers: { [OPERATION_HEADER]: op.id } });
}
