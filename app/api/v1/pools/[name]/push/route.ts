import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { poolPushSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  const input = poolPushSchema.parse(await readJson(req));
  return (await engine().pools()).push(params.name, input, { actor: principal.name });
});
