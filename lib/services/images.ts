// Image actions: list, import a disk already on the console's host (uploads stream through their
// route, then come here), remove an imported image.
import { Engine } from '../engine';
import { importImageSchema } from '../validations';
import { longService, noInput, service } from './service';

const engine = () => Engine.get();

export const listImages = service({ role: 'viewer', input: noInput, run: () => engine().images() });

/** Imports a disk; for a browser upload the route has streamed it to `disk`, a temporary file (opts.uploaded). */
export const importImage = longService({
  role: 'operator',
  input: importImageSchema,
  kind: 'import',
  run: (_a, input, ctx, o) => engine().importImage(input, { ...ctx, signal: o.signal, uploaded: o.uploaded }),
});

/** Refused while a template uses it. */
export const removeImage = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().removeImage(ref, { actor: a.name }) });
