import { serve } from '@/lib/api/handler';
import { whoAmI } from '@/lib/services/reads';

export const dynamic = 'force-dynamic';

export const GET = serve(whoAmI);
