import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse } from '@/lib/api/operation';
import { liveForkSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  // a running VM's name here is a live fork (DESIGN.md `fork VM …`): the wider schema keeps `quiesce`
  const input = liveForkSchema.parse(await readJson(req));
  return operationResponse(req, await engine().startOperation('fork', principal.name, (ctx) => engine().fork(params.ref, input, ctx), { name: params.ref }));
});
