import { route } from '@/lib/api/handler';
import { needsRedaction, redactEvent } from '@/lib/auth/redact';
import { db } from '@/lib/db';

export const dynamic = 'force-dynamic';

// The event log: who did what, when, with what result (viewers: without commands run in guests).
export const GET = route('viewer', async ({ req, principal }) => {
  const target = new URL(req.url).searchParams.get('target') ?? undefined;
  const events = await db().event.findMany({
    where: target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined,
    orderBy: { id: 'desc' },
    take: 200,
  });
  return { events: needsRedaction(principal) ? events.map(redactEvent) : events };
});
