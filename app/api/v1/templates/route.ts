import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { operationResponse } from '@/lib/api/operation';
import { routePrepare } from '@/lib/cluster/dispatch';
import { clusterList } from '@/lib/cluster/views';
import { prepareSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => ({ templates: (await clusterList(engine())).templates }));

// Prepare: boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen
// (or at once with the operation's id: lib/api/operation.ts).
export const POST = route('operator', async ({ req, principal }) => {
  const raw = await readJson(req);
  const routed = await routePrepare(raw, principal.name); // many hosts: on `host` or the roomiest one
  if (routed) return routed;
  const input = prepareSchema.parse(raw);
  return operationResponse(req, await engine().startOperation('prepare', principal.name, (ctx) => engine().prepare(input, ctx), { name: input.name }));
});
