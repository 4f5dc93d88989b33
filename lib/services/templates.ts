// Template actions: prepare, fork (a running VM's name makes it a live fork), resume, remove, files.
import { Engine } from '../engine';
import { templateFiles } from '../engine/template-files';
import { liveForkSchema, prepareSchema } from '../validations';
import { removeSchema } from '../validations/actions';
import { noInput, service } from './service';

const engine = () => Engine.get();

export const getTemplate = service({ role: 'viewer', input: noInput, ref: true, run: async (_a, { ref }) => engine().get(ref) });

/** Boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen. */
export const prepareTemplate = service({ role: 'operator', input: prepareSchema, run: (a, input) => engine().prepare(input, { actor: a.name }) });

/** Forks a template; a running VM's name here is a live fork (DESIGN.md `fork VM …`): the wider schema keeps `quiesce`. */
export const forkTemplate = service({
  role: 'operator',
  input: liveForkSchema,
  ref: true,
  run: (a, { ref, ...input }) => engine().fork(ref, input, { actor: a.name }),
});

/** Resumes a frozen template as a running VM again: a child of itself. */
export const resumeTemplate = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().resumeTemplate(ref, { actor: a.name }) });

export const removeTemplate = service({ role: 'operator', input: removeSchema, ref: true, run: (a, { ref, force }) => engine().remove(ref, { force, actor: a.name }) });

export const getTemplateFiles = service({ role: 'viewer', input: noInput, ref: true, run: (_a, { ref }) => templateFiles(ref) });
