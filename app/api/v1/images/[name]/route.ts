import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

/** Removes an imported image (refused while a template uses it). */
export const DELETE = route('operator', async ({ params, principal }) => engine().removeImage(params.name, { actor: principal.name }));
