import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { forkSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ req, params, principal }) => {
  const input = forkSchema.parse(await readJson(req));
  return engine().fork(params.ref, input, { actor: principal.name });
});
