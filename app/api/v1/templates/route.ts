import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { prepareSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => ({ templates: (await engine().list()).templates }));

// Prepare: boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen.
export const POST = route('operator', async ({ req, principal }) => {
  const input = prepareSchema.parse(await readJson(req));
  return engine().prepare(input, { actor: principal.name });
});
