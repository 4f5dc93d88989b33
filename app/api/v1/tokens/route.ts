import { readJson, serve } from '@/lib/api/handler';
import { createToken, listTokens } from '@/lib/services/tokens';

export const dynamic = 'force-dynamic';

export const GET = serve(listTokens);

// The secret is in this answer only: it is stored as a hash.
export const POST = serve(createToken, ({ req }) => readJson(req));
