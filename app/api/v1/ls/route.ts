import { serve } from '@/lib/api/handler';
import { listAll } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

export const GET = serve(listAll);
