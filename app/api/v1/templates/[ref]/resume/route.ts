import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const POST = route('operator', async ({ params, principal }) => engine().resumeTemplate(params.ref, { actor: principal.name }));
