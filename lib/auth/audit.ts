// Security events (log-ins, tokens, serial typing) in the same event log as the engine's actions.
import { db } from '../db';

export async function audit(actor: string, action: string, result: 'ok' | 'error', target: { id?: string; name?: string } = {}, message?: string): Promise<void> {
  await db()
    .event.create({ data: { actor, action, targetId: target.id, targetName: target.name, result, message: message?.slice(0, 500) } })
    .catch(() => undefined); // the log must never fail the request it records
}
