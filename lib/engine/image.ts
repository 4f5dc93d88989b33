// The guest image a parent boots, from lib/guest/images.ts (built and cached by the images helper).
import { ensureImage } from '../guest/images';

export { legacyFree } from '../guest/images';
import { EngineError } from './errors';

export interface ImageInfo {
  name: string;
  kernel: string;
  files: { kernel: string; initrd: string; disk: string };
  cmdline: string;
}

export async function resolveImage(name: string, home: string): Promise<ImageInfo> {
  try {
    return (await ensureImage(name as 'tiny' | 'debian', home)) as unknown as ImageInfo;
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('internal', `The ${name} image is not available: ${(e as Error).message}`);
  }
}
