// Quotas per user or token (admin): GET lists them with what each owner holds now; PUT sets one.
import { readJson, serve } from '@/lib/api/handler';
import { listQuotas, setQuota } from '@/lib/services/quotas';

export const dynamic = 'force-dynamic';

export const GET = serve(listQuotas);
export const PUT = serve(setQuota, ({ req }) => readJson(req));
