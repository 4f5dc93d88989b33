import { route } from '@/lib/api/handler';
import { setDrain } from '@/lib/cluster/hosts';
import { clusterActive } from '@/lib/cluster/dispatch';
import { EngineError } from '@/lib/engine/errors';
import { hostActionSchema, hostNameSchema } from '@/lib/validations/hosts';

export const dynamic = 'force-dynamic';

// drain (no new placements) | ready (undo)
export const POST = route('admin', async ({ params }) => {
  const action = hostActionSchema.parse(params.action);
  const name = hostNameSchema.parse(params.name);
  if (!(await clusterActive())) throw new EngineError('conflict', 'There are no agents to drain: this console runs everything on its own host (README "Many hosts").');
  const h = await setDrain(name, action === 'drain');
  return { name: h.name, state: h.state };
});
