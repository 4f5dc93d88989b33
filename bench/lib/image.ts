// Locating the tiny image: lib/guest's ensureImage when it exists, else a prebuilt manifest
// (INSTACLONE_BENCH_IMAGE=/dir/with/manifest.json), else build-image.sh into the bench home.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ImageFiles } from './minifork';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ImageInfo extends ImageFiles {
  guestKernel: string;
  source: string;
}

function fromManifest(file: string, source: string): ImageInfo {
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const files = m.files ?? m;
  return { kernel: files.kernel, initrd: files.initrd, disk: files.disk, cmdline: m.cmdline, guestKernel: m.kernel ?? 'unknown', source };
}

export async function findImage(home: string): Promise<ImageInfo> {
  const pre = process.env.INSTACLONE_BENCH_IMAGE;
  if (pre) return fromManifest(path.join(pre, 'manifest.json'), `INSTACLONE_BENCH_IMAGE=${pre}`);
  const imagesTs = path.join(root, 'lib/guest/images.ts');
  if (fs.existsSync(imagesTs)) {
    const mod = (await import(imagesTs)) as { ensureImage?: (n: string, h: string) => Promise<Record<string, unknown>> };
    if (mod.ensureImage) {
      const m = (await mod.ensureImage('tiny', home)) as Record<string, any>;
      const files = m.files ?? m;
      return { kernel: files.kernel, initrd: files.initrd, disk: files.disk, cmdline: m.cmdline, guestKernel: m.kernel ?? 'unknown', source: 'lib/guest ensureImage' };
    }
  }
  const out = path.join(home, 'images/tiny');
  if (!fs.existsSync(path.join(out, 'manifest.json'))) {
    const r = spawnSync('bash', [path.join(root, 'lib/guest/build-image.sh'), 'tiny', out], {
      env: { ...process.env, INSTACLONE_IMAGE_FINAL_DIR: out },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) throw new Error('Building the tiny image failed; see the build log above.');
  }
  return fromManifest(path.join(out, 'manifest.json'), 'lib/guest/build-image.sh');
}
