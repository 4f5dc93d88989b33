// What every page reads: the lineage listing, host stats, the task list and the event log.
import { needsRedaction, redactEvent, redactTask } from '../auth/redact';
import { z } from 'zod';
import { db } from '../db';
import { Engine } from '../engine';
import { clusterList } from '../cluster/views';
import { noInput, service } from './service';

const byTarget = z.object({ target: z.string().max(200).optional() });
const targetWhere = (target?: string) => (target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined);

// with agents (many hosts) the listing is every host's; each VM carries its `host`
export const listAll = service({ role: 'viewer', input: noInput, run: () => clusterList(Engine.get()) });
export const hostStats = service({ role: 'viewer', input: noInput, run: () => Engine.get().stats() });
export const whoAmI = service({ role: 'viewer', input: noInput, run: async (a) => ({ name: a.name, role: a.role, kind: a.kind }) });

export const listTasks = service({
  role: 'viewer',
  input: byTarget,
  run: async (a, { target }) => {
    const tasks = await db().task.findMany({ where: targetWhere(target), orderBy: { startedAt: 'desc' }, take: 100 });
    return { tasks: needsRedaction(a) ? tasks.map(redactTask) : tasks }; // viewers: no warm-up commands or output
  },
});

/** The event log: who did what, when, with what result. */
export const listEvents = service({
  role: 'viewer',
  input: byTarget,
  run: async (a, { target }) => {
    const events = await db().event.findMany({ where: targetWhere(target), orderBy: { id: 'desc' }, take: 200 });
    return { events: needsRedaction(a) ? events.map(redactEvent) : events }; // viewers: no command lines
  },
});
export const listTemplates = service({ role: 'viewer', input: noInput, run: async () => ({ templates: (await clusterList(Engine.get())).templates }) });
export const listVms = service({ role: 'viewer', input: noInput, run: async () => ({ vms: (await clusterList(Engine.get())).vms }) });
