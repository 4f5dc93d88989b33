import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ params }) => engine().get(params.ref));

export const DELETE = route('operator', async ({ req, params, principal }) => {
  const force = new URL(req.url).searchParams.get('force') === '1';
  return engine().remove(params.ref, { force, actor: principal.name });
});
