import { bodyAndRef, serve } from '@/lib/api/handler';
import { claimFromPool } from '@/lib/services/pools';

export const dynamic = 'force-dynamic';

// The claim path is database only: mark a ready spare claimed and return it (see lib/engine/pools).
export const POST = serve(claimFromPool, bodyAndRef);
