import { bodyAndRef, refOnly, serve } from '@/lib/api/handler';
import { getPool, removePool, resizePool } from '@/lib/services/pools';

export const dynamic = 'force-dynamic';

export const GET = serve(getPool, refOnly);

/** resize: {size?, spares?} */
export const PATCH = serve(resizePool, bodyAndRef);

export const DELETE = serve(removePool, refOnly);
