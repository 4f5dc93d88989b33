import { bodyAndRef, serveOperation } from '@/lib/api/handler';
import { pushPool } from '@/lib/services/pools';

export const dynamic = 'force-dynamic';

export const POST = serveOperation(pushPool, bodyAndRef);
