import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse } from '@/lib/api/operation';
import { routeFork } from '@/lib/cluster/dispatch';
import { liveForkSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  const raw = await readJson(req);
  // many hosts: placed on (or pinned to, with `host`) an agent that holds the template
  const routed = await routeFork(params.ref, raw, principal.name);
  if (routed) return routed;
  // a running VM's name here is a live fork (DESIGN.md `fork VM …`): the wider schema keeps `quiesce`
  const input = liveForkSchema.parse(raw);
  return operationResponse(req, await engine().startOperation('fork', principal.name, (ctx) => engine().fork(params.ref, input, ctx), { name: params.ref }));
});
