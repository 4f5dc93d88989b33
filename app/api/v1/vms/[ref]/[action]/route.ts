import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { routeVmAction } from '@/lib/cluster/dispatch';
import { vmActionSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

// stop | start | reset
export const POST = route('operator', async ({ params, principal }) => {
  const action = vmActionSchema.parse(params.action);
  const routed = await routeVmAction(params.ref, action, principal.name); // a VM on an agent
  if (routed !== null) return routed;
  const ctx = { actor: principal.name };
  if (action === 'start') return engine().startVm(params.ref, ctx);
  return engine()[action](params.ref, ctx);
});
