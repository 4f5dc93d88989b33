// Template actions: prepare, fork (a running VM's name makes it a live fork), resume, remove, files.
import { needsRedaction, redactView } from '../auth/redact';
import { Engine } from '../engine';
import { templateFiles } from '../engine/template-files';
import { liveForkSchema, prepareSchema } from '../validations';
import { removeSchema } from '../validations/actions';
import { routeFork, routePrepare } from '../cluster/dispatch';
import { longService, noInput, principalKey, service } from './service';

const engine = () => Engine.get();

export const getTemplate = service({ role: 'viewer', input: noInput, ref: true, run: async (a, { ref }) => (needsRedaction(a) ? redactView(await engine().template(ref)) : engine().template(ref)) });

/** Boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen. */
export const prepareTemplate = longService({
  role: 'operator',
  input: prepareSchema,
  kind: 'prepare',
  route: (a, raw) => routePrepare(raw, a.name), // many hosts: on `host`, or the roomiest one
  run: (_a, input, ctx) => engine().prepare(input, ctx),
});

/** Forks a template; a running VM's name here is a live fork (DESIGN.md `fork VM …`): the wider schema keeps `quiesce`. */
export const forkTemplate = longService({
  role: 'operator',
  input: liveForkSchema,
  ref: true,
  kind: 'fork',
  // many hosts: placed on (or pinned to, with `host`) an agent that holds the template
  route: (a, raw, { ref }) => routeFork(ref, raw, a.name, principalKey(a)), // request ids are the caller's own
  run: (_a, { ref, ...input }, ctx) => engine().fork(ref, input, ctx),
});

/** Resumes a frozen template as a running VM again: a child of itself. */
export const resumeTemplate = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().resumeTemplate(ref, { actor: a.name }) });

export const removeTemplate = service({ role: 'operator', input: removeSchema, ref: true, run: (a, { ref, force }) => engine().remove(ref, { force, actor: a.name }) });

export const getTemplateFiles = service({ role: 'viewer', input: noInput, ref: true, run: (_a, { ref }) => templateFiles(ref) });
