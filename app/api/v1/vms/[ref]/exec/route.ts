import { engine } from '@/lib/api/engine';
import { readJson, route } from '@/lib/api/handler';
import { execSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

// Runs a command inside the guest through its agent (never through a shell on the host).
export const POST = route('operator', async ({ req, params, principal }) => {
  const input = execSchema.parse(await readJson(req));
  return engine().exec(params.ref, input.command, { timeoutMs: input.timeoutMs, actor: principal.name });
});
