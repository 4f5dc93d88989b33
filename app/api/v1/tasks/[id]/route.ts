import { refOnly, serve } from '@/lib/api/handler';
import { getTask } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

// One operation (task): state (running, succeeded, failed), progress, log, and its result or error.
export const GET = serve(getTask, refOnly);
