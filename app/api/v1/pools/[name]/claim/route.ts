import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { poolClaimSchema } from '@/lib/validations/pools';

export const dynamic = 'force-dynamic';

// The claim path is database only: mark a ready spare claimed and return it (see lib/engine/pools).
export const POST = route('operator', async ({ req, params, principal }) => {
  const input = poolClaimSchema.parse(await readJson(req));
  return (await engine().pools()).claim(params.name, input, { actor: principal.name });
});
