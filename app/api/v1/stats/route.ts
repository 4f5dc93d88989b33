import { serve } from '@/lib/api/handler';
import { hostStats } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

export const GET = serve(hostStats);
