// What every page reads: the lineage listing, host stats, the operations (task) list and the event log.
import { needsRedaction, redactEvent, redactOperation } from '../auth/redact';
import { z } from 'zod';
import { Engine } from '../engine';
import { EngineError } from '../engine/errors';
import { clusterList } from '../cluster/views';
import { noInput, service } from './service';

const engine = () => Engine.get();
const byTarget = z.object({ target: z.string().max(200).optional() });

// with agents (many hosts) the listing is every host's; each VM carries its `host`
export const listAll = service({ role: 'viewer', input: noInput, run: () => clusterList(engine()) });
export const hostStats = service({ role: 'viewer', input: noInput, run: () => engine().stats() });
export const whoAmI = service({ role: 'viewer', input: noInput, run: async (a) => ({ name: a.name, role: a.role, kind: a.kind }) });

/** The latest operations, each with its parsed result; viewers get no warm-up commands or output. */
export const listTasks = service({
  role: 'viewer',
  input: byTarget,
  run: async (a, { target }) => {
    const tasks = await engine().operations(target);
    return { tasks: needsRedaction(a) ? tasks.map(redactOperation) : tasks };
  },
});

/** One operation (GET /api/v1/tasks/ID, /operations/ID): state, progress, log, and its result or error. */
export const getTask = service({
  role: 'viewer',
  input: noInput,
  ref: true,
  run: async (a, { ref }) => {
    const op = await engine().operation(ref);
    if (!op) throw new EngineError('not_found', `No operation "${ref}"; list recent ones with GET /api/v1/tasks.`);
    return needsRedaction(a) ? redactOperation(op) : op;
  },
});

/** The event log: who did what, when, with what result; viewers get no command lines. */
export const listEvents = service({
  role: 'viewer',
  input: byTarget,
  run: async (a, { target }) => {
    const events = await engine().eventLog(target);
    return { events: needsRedaction(a) ? events.map(redactEvent) : events };
  },
});
export const listTemplates = service({ role: 'viewer', input: noInput, run: async () => ({ templates: (await clusterList(engine())).templates }) });
export const listVms = service({ role: 'viewer', input: noInput, run: async () => ({ vms: (await clusterList(engine())).vms }) });
