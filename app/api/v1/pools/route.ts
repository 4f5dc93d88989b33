import { readJson, serve } from '@/lib/api/handler';
import { createPool, listPools } from '@/lib/services/pools';

export const dynamic = 'force-dynamic';

export const GET = serve(listPools);

export const POST = serve(createPool, ({ req }) => readJson(req));
