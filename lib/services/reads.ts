// What every page reads: the lineage listing, host stats, the task list and the event log.
import { z } from 'zod';
import { db } from '../db';
import { Engine } from '../engine';
import { noInput, service } from './service';

const byTarget = z.object({ target: z.string().max(200).optional() });
const targetWhere = (target?: string) => (target ? { OR: [{ targetId: target }, { targetName: target }] } : undefined);

export const listAll = service({ role: 'viewer', input: noInput, run: () => Engine.get().list() });
export const hostStats = service({ role: 'viewer', input: noInput, run: () => Engine.get().stats() });
export const whoAmI = service({ role: 'viewer', input: noInput, run: async (a) => ({ name: a.name, role: a.role, kind: a.kind }) });

export const listTasks = service({
  role: 'viewer',
  input: byTarget,
  run: async (_a, { target }) => ({ tasks: await db().task.findMany({ where: targetWhere(target), orderBy: { startedAt: 'desc' }, take: 100 }) }),
});

/** The event log: who did what, when, with what result. */
export const listEvents = service({
  role: 'viewer',
  input: byTarget,
  run: async (_a, { target }) => ({ events: await db().event.findMany({ where: targetWhere(target), orderBy: { id: 'desc' }, take: 200 }) }),
});
export const listTemplates = service({ role: 'viewer', input: noInput, run: async () => ({ templates: (await Engine.get().list()).templates }) });
export const listVms = service({ role: 'viewer', input: noInput, run: async () => ({ vms: (await Engine.get().list()).vms }) });
