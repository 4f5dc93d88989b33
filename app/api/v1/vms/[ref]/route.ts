import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { routeVmAction } from '@/lib/cluster/dispatch';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ params }) => engine().get(params.ref));

export const DELETE = route('operator', async ({ req, params, principal }) => {
  const force = new URL(req.url).searchParams.get('force') === '1';
  const routed = await routeVmAction(params.ref, 'remove', principal.name, force); // a VM on an agent
  if (routed !== null) return routed;
  return engine().remove(params.ref, { force, actor: principal.name });
});
