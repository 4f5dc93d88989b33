// Template actions: prepare, fork (a running VM's name makes it a live fork), resume, remove, files.
import { needsRedaction, redactView } from '../auth/redact';
import { Engine } from '../engine';
import { templateFiles } from '../engine/template-files';
import { removeSchema } from '../validations/actions';
import { routeFork, routePrepare } from '../cluster/dispatch';
import { clusterForkSchema, clusterPrepareSchema } from '../validations/hosts';
import { longService, noInput, service } from './service';

const engine = () => Engine.get();

export const getTemplate = service({ role: 'viewer', input: noInput, ref: true, run: async (a, { ref }) => (needsRedaction(a) ? redactView(await engine().template(ref)) : engine().template(ref)) });

/** Boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen. */
export const prepareTemplate = longService({
  role: 'operator',
  input: clusterPrepareSchema, // the prepare schema, plus the host to pin
  kind: 'prepare',
  route: (a, input) => routePrepare(input, a.name), // many hosts: on `host`, or the roomiest one
  run: (_a, { host: _, ...input }, ctx) => engine().prepare(input, ctx), // here: `host` was checked by the route
});

/**
 * Forks a template; a running VM's name here is a live fork (DESIGN.md `fork VM …`): the live-fork
 * schema keeps `quiesce`, the cluster one adds the host to pin and the retry id.
 */
export const forkTemplate = longService({
  role: 'operator',
  input: clusterForkSchema,
  ref: true,
  kind: 'fork',
  // many hosts: placed on (or pinned to, with `host`) an agent that holds the template
  route: (a, { ref, ...input }) => routeFork(ref, input, a.name),
  run: (_a, { ref, host: _h, requestId: _r, ...input }, ctx) => engine().fork(ref, input, ctx),
});

/** Resumes a frozen template as a running VM again: a child of itself. */
export const resumeTemplate = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().resumeTemplate(ref, { actor: a.name }) });

export const removeTemplate = service({ role: 'operator', input: removeSchema, ref: true, run: (a, { ref, force }) => engine().remove(ref, { force, actor: a.name }) });

export const getTemplateFiles = service({ role: 'viewer', input: noInput, ref: true, run: (_a, { ref }) => templateFiles(ref) });
