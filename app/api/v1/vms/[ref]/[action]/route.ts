import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { vmActionSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

// stop | start | reset
export const POST = route('operator', async ({ params, principal }) => {
  const action = vmActionSchema.parse(params.action);
  const ctx = { actor: principal.name };
  if (action === 'start') return engine().startVm(params.ref, ctx);
  return engine()[action](params.ref, ctx);
});
