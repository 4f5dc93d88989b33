import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { EngineError } from '@/lib/engine/errors';

export const dynamic = 'force-dynamic';

// One operation (task): state (running, succeeded, failed), progress, log, and its result or error.
export const GET = route('viewer', async ({ params }) => {
  const op = await engine().operation(params.id);
  if (!op) throw new EngineError('not_found', `No operation "${params.id}"; list recent ones with GET /api/v1/tasks.`);
  return op;
});
