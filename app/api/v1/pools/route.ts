import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { poolCreateSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => (await engine().pools()).list());

export const POST = route('operator', async ({ req, principal }) => {
  const input = poolCreateSchema.parse(await readJson(req));
  return (await engine().pools()).create(input, { actor: principal.name });
});
