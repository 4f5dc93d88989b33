import { refOnly, serve } from '@/lib/api/handler';
import { revokeToken } from '@/lib/services/tokens';

export const dynamic = 'force-dynamic';

export const DELETE = serve(revokeToken, refOnly);
