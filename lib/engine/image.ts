// The guest image a parent boots. lib/guest/images.ts (owned by the images helper) builds and
// caches them; until it is present, INSTACLONE_IMAGE_DIR may point at a built image directory.
import fs from 'node:fs';
import path from 'node:path';
import { EngineError } from './errors';

export interface ImageInfo {
  name: string;
  kernel: string;
  files: { kernel: string; initrd: string; disk: string };
  cmdline: string;
}

export async function resolveImage(name: string, home: string): Promise<ImageInfo> {
  const dir = process.env.INSTACLONE_IMAGE_DIR;
  if (dir && fs.existsSync(path.join(dir, 'manifest.json'))) {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ImageInfo;
    const rel = (f: string) => (path.isAbsolute(f) && fs.existsSync(f) ? f : path.join(dir, path.basename(f)));
    if (m.name === name) return { ...m, files: { kernel: rel(m.files.kernel), initrd: rel(m.files.initrd), disk: rel(m.files.disk) } };
  }
  let mod: { ensureImage: (n: string, h: string) => Promise<ImageInfo> };
  try {
    const spec = '../guest/images';
    mod = await import(/* webpackIgnore: true */ spec);
  } catch (e) {
    throw new EngineError('not_found', `The image builder (lib/guest/images.ts) is not available (${(e as Error).message}); set INSTACLONE_IMAGE_DIR to a built image.`);
  }
  return mod.ensureImage(name, home);
}
