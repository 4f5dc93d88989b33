// The event log (who did what, when, with what result): the one module that writes and reads its rows.
import { db } from '../db';

export interface LogEvent {
  id: number;
  at: Date;
  actor: string;
  action: string;
  targetId: string | null;
  targetName: string | null;
  result: string;
  message: string | null;
  durationMs: number | null;
}

/** Rows whose target is this id or name (the VM and template pages' own history). */
export const targetWhere = (target?: string) => (target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined);

/** Records one entry; never throws (the log must not fail the action it describes). */
export async function logEvent(actor: string | undefined, action: string, target: { id?: string; name?: string }, result: 'ok' | 'error', message?: string, durationMs?: number): Promise<void> {
  await db()
    .event.create({
      data: { actor: actor ?? 'system', action, targetId: target.id, targetName: target.name, result, message: message?.slice(0, 2000), durationMs: durationMs === undefined ? undefined : Math.round(durationMs) },
    })
    .catch(() => undefined);
}

/** The latest entries, newest first (200 at most). */
export function listEvents(target?: string): Promise<LogEvent[]> {
  return db().event.findMany({ where: targetWhere(target), orderBy: { id: 'desc' }, take: 200 });
}
