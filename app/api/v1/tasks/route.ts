import { route } from '@/lib/api/handler';
import { needsRedaction, redactTask } from '@/lib/auth/redact';
import { db } from '@/lib/db';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ req, principal }) => {
  const target = new URL(req.url).searchParams.get('target') ?? undefined;
  const tasks = await db().task.findMany({
    where: target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined,
    orderBy: { startedAt: 'desc' },
    take: 100,
  });
  return { tasks: needsRedaction(principal) ? tasks.map(redactTask) : tasks };
});
