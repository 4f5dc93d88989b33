import { route } from '@/lib/api/handler';
import { db } from '@/lib/db';

export const dynamic = 'force-dynamic';

// The event log: who did what, when, with what result.
export const GET = route('viewer', async ({ req }) => {
  const target = new URL(req.url).searchParams.get('target') ?? undefined;
  const events = await db().event.findMany({
    where: target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined,
    orderBy: { id: 'desc' },
    take: 200,
  });
  return { events };
});
