import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse } from '@/lib/api/operation';
import { liveForkSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

// live fork: the running VM pauses briefly, a template is made from that moment, N children fork from it
export const POST = route('operator', async ({ req, params, principal }) => {
  const input = liveForkSchema.parse(await readJson(req));
  return operationResponse(req, await engine().startOperation('live-fork', principal.name, (ctx) => engine().liveFork(params.ref, input, ctx), { name: params.ref }));
});
