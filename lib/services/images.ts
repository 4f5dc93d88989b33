// Image actions: list, import a disk already on the console's host (uploads stream through their
// route, then come here), remove an imported image.
import { Engine } from '../engine';
import { importImageSchema } from '../validations';
import { noInput, service } from './service';

const engine = () => Engine.get();

export const listImages = service({ role: 'viewer', input: noInput, run: () => engine().images() });

export const importImage = service({
  role: 'operator',
  input: importImageSchema,
  run: (a, input) => engine().importImage(input, { actor: a.name }),
});

/** The last step of a browser upload: the route has streamed the disk to `disk` (a temporary file it removes). */
export async function importUploaded(a: { name: string }, input: unknown, signal: AbortSignal) {
  return engine().importImage(input, { actor: a.name, signal, uploaded: true });
}

/** Refused while a template uses it. */
export const removeImage = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().removeImage(ref, { actor: a.name }) });
