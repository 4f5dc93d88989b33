import { serve } from '@/lib/api/handler';
import { listTasks } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

export const GET = serve(listTasks, ({ req }) => ({ target: new URL(req.url).searchParams.get('target') ?? undefined }));
