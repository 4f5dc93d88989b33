import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse, wantsAsync } from '@/lib/api/operation';
import type { OpContext } from '@/lib/engine';
import { poolPushSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  const input = poolPushSchema.parse(await readJson(req));
  const pools = await engine().pools();
  // waiting callers get the answer when the push is recorded, as before; a detached operation ends
  // when the spares have rolled (claimed children roll later, on release)
  const run = wantsAsync(req) ? (ctx: OpContext) => pools.pushAndRoll(params.name, input, ctx) : (ctx: OpContext) => pools.push(params.name, input, ctx);
  return operationResponse(req, await engine().startOperation('pool-push', principal.name, run, { name: params.name }));
});
