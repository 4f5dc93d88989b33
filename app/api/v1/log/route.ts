import { serve } from '@/lib/api/handler';
import { listEvents } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

// The event log: who did what, when, with what result.
export const GET = serve(listEvents, ({ req }) => ({ target: new URL(req.url).searchParams.get('target') ?? undefined }));
