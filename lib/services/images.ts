// Image actions: list, import a disk already on the console's host (uploads stream through their
// route, then come here), remove an imported image.
import { Engine } from '../engine';
import { importImageSchema } from '../validations';
import { longService, noInput, service } from './service';

const engine = () => Engine.get();

export const listImages = service({ role: 'viewer', input: noInput, run: () => engine().images() });

/**
 * Imports a disk file already on the console's host: admin only. The console reads it with its own
 * rights (root, as installed), and an operator is a console role, not an account on the host: an
 * operator could otherwise import, boot and read any disk image on it (another system's VM disks, backups).
 */
export const importImage = longService({
  role: 'admin',
  input: importImageSchema,
  kind: 'import',
  run: (_a, input, ctx, o) => engine().importImage(input, { ...ctx, signal: o.signal }),
});

/**
 * Imports a browser upload: the route has streamed the operator's own bytes to `disk`, a temporary
 * file it named itself. Only that route calls this: never with a path a caller sent.
 */
export const importUploadedImage = longService({
  role: 'operator',
  input: importImageSchema,
  kind: 'import',
  run: (_a, input, ctx, o) => engine().importImage(input, { ...ctx, signal: o.signal, uploaded: true }),
});

/** Refused while a template uses it. */
export const removeImage = service({ role: 'operator', input: noInput, ref: true, run: (a, { ref }) => engine().removeImage(ref, { actor: a.name }) });
