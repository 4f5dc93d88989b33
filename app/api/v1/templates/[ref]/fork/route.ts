import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { liveForkSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  // a running VM's name here is a live fork (DESIGN.md `fork VM …`): the wider schema keeps `quiesce`
  const input = liveForkSchema.parse(await readJson(req));
  return engine().fork(params.ref, input, { actor: principal.name });
});
