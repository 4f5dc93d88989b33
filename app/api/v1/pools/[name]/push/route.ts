import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse } from '@/lib/api/operation';
import { poolPushSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  const input = poolPushSchema.parse(await readJson(req));
  const pools = await engine().pools();
  return operationResponse(req, await engine().startOperation('pool-push', principal.name, (ctx) => pools.push(params.name, input, ctx), { name: params.name }));
});
