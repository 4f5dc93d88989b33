import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { poolResizeSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ params }) => (await engine().pools()).get(params.name));

/** resize: {size?, spares?} */
export const PATCH = route('operator', async ({ req, params, principal }) => {
  const input = poolResizeSchema.parse(await readJson(req));
  return (await engine().pools()).resize(params.name, input, { actor: principal.name });
});

export const DELETE = route('operator', async ({ params, principal }) => (await engine().pools()).remove(params.name, { actor: principal.name }));
