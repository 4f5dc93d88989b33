import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

// `instaclone pool release VM`: reset back to a spare, or removed and replaced (the pool's on-release).
export const POST = route('operator', async ({ params, principal }) => (await engine().pools()).release(params.ref, { actor: principal.name }));
