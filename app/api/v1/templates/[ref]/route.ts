import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { needsRedaction, redactView } from '@/lib/auth/redact';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ params, principal }) => {
  const view = await engine().get(params.ref);
  return needsRedaction(principal) ? redactView(view) : view;
});

export const DELETE = route('operator', async ({ req, params, principal }) => {
  const force = new URL(req.url).searchParams.get('force') === '1';
  return engine().remove(params.ref, { force, actor: principal.name });
});
