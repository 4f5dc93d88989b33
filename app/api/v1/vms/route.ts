import { serve } from '@/lib/api/handler';
import { listVms } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

export const GET = serve(listVms);
