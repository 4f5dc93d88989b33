// Anonymous callers (load balancers, the start-up wait) get only {ok}, from a result at most
// HEALTH_CACHE_MS old; signed-in users and tokens get the full report (paths, versions, errors).
import { cookieValue } from '@/lib/api/handler';
import { principalFrom } from '@/lib/auth';
import { sessionIdFrom } from '@/lib/auth/sessions';
import { cachedHealthOk, health } from '@/lib/health';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const who = await principalFrom(req.headers, sessionIdFrom((n) => cookieValue(req, n))).catch(() => null);
  if (!who) {
    const ok = await cachedHealthOk();
    return Response.json({ ok }, { status: ok ? 200 : 503 });
  }
  const report = await health();
  return Response.json(report, { status: report.ok ? 200 : 503 });
}
