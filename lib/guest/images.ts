// Guest images: build (from Debian packages), cache and list them.
//
// An image lives in `${home}/images/NAME/` with a `manifest.json` (see ImageManifest). It is built by
// `lib/guest/build-image.sh NAME DIR` from the recipe in `lib/guest/NAME/`:
//   tiny   (default): Debian's generic 6.1 kernel + a busybox initramfs with qemu-ga, httpd and
//                     instaclone-reseed; files vmlinux (PVH), vmlinuz, initrd.img, data.qcow2.
//   debian (opt-in):  a debootstrapped Debian 12 root disk (root.qcow2, rootDisk: true); needs root.
//
// Validity: a build runs in `${home}/images/.NAME.tmp-PID` and is renamed to `${home}/images/NAME` only
// when it succeeded, so a directory `images/NAME` with a readable manifest is always complete. Stale
// `.NAME.tmp-*` / `.NAME.old-*` directories are deleted by the next build. Builds of one image are
// serialized with a lock directory `images/.NAME.lock` (holding the owner's pid; a lock whose owner
// died is taken over), so a concurrent second ensureImage() waits and then reuses the result.
//
// Rebuilds: the manifest records `recipeHash`, the SHA-256 of build-image.sh, every file under
// lib/guest/NAME/ and the build-affecting environment (INSTACLONE_KERNEL_PACKAGE). ensureImage()
// rebuilds when it differs. Replacing an image deletes the old files: a VM whose disk has the old
// data.qcow2 as backing file must keep its own copy (templates should copy or hard-link the base).
//
// Cache: when INSTACLONE_IMAGE_CACHE is set (a directory laid out like `${home}/images`, e.g.
// ~/.cache/instaclone/images), ensureImage() first ensures the image there (building it there, under
// the same lock and hash rules) and then copies it into `${home}/images/NAME` (about 80 MB, well under
// a second). Tests use this so that the suite does not rebuild the kernel/initramfs for every fresh home.
//
// Environment: INSTACLONE_GUEST_DIR overrides where lib/guest (build-image.sh and recipes) is found;
// INSTACLONE_KERNEL_PACKAGE picks another Debian kernel package (tiny).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { config } from '../config';

export type ImageName = 'tiny' | 'debian';

export type ImageManifest = {
  name: string;
  /** kernel release, as `uname -r` prints it in the guest */
  kernel: string;
  /** total bytes of the image files */
  sizeBytes: number;
  /** ISO 8601 */
  builtAt: string;
  recipeHash: string;
  /**
   * Absolute paths, passed as -kernel, -initrd and the virtio-blk drive's backing file. For tiny,
   * `kernel` is `vmlinux`: Debian's kernel uncompressed, with its PVH entry note, which QEMU boots
   * directly (no xz decompression under TCG: ~3 s faster). `bzImage` is Debian's original
   * compressed `vmlinuz` of the same kernel (boots with the same cmdline; slower under TCG).
   */
  files: { kernel: string; initrd: string; disk: string; bzImage?: string };
  /** kernel command line to pass with -append */
  cmdline: string;
  /** true when `disk` is the root filesystem (debian); otherwise it is a data disk mounted at /data */
  rootDisk?: boolean;
};

export type EnsureImageOptions = { onLog?: (line: string) => void };

const IMAGE_NAMES: readonly ImageName[] = ['tiny', 'debian'];

/**
 * Images that need none of the legacy PC devices (HPET, VMware port, PS/2, kvmvapic), so their
 * templates get the engine's 'lean' device profile (lib/engine/argv.ts deviceProfileArgs). tiny:
 * serial console only, its cmdline skips PS/2 probing and trusts the TSC. debian keeps them until
 * measured (systemd may poke at the keyboard controller and the HPET).
 */
const LEGACY_FREE: Record<ImageName, boolean> = { tiny: true, debian: false };
export const legacyFree = (name: string): boolean => LEGACY_FREE[name as ImageName] ?? false;
const LOCK_POLL_MS = 500;

export function imagesDir(home: string): string {
  return `${home}/images`;
}

/** Directory holding build-image.sh and the recipes. */
export function guestDir(): string {
  const candidates: string[] = [];
  const given = config().guest.dir;
  if (given) candidates.push(given);
  try {
    candidates.push(path.dirname(fileURLToPath(import.meta.url)));
  } catch {
    // bundled: import.meta.url may not be a file URL
  }
  candidates.push(path.join(process.cwd(), 'lib', 'guest'));
  for (const c of candidates) if (fs.existsSync(path.join(c, 'build-image.sh'))) return c;
  throw new Error(
    `Could not find lib/guest/build-image.sh (looked in ${candidates.join(', ')}); run from the project directory or set INSTACLONE_GUEST_DIR.`,
  );
}

function assertName(name: string): asserts name is ImageName {
  if (!(IMAGE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`Unknown image '${name}'; use one of: ${IMAGE_NAMES.join(', ')}.`);
  }
}

function listFilesRecursive(dir: string, rel = ''): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFilesRecursive(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

/**
 * Recipe texts that build exactly what an earlier text built: the new hash → the earlier hash whose
 * cached images stay valid, so a change that moves host-specific code out of a recipe does not force
 * a rebuild (the debian image's debootstrap takes ~8 minutes). Any further change of the recipe
 * gives a hash this table does not name, and rebuilds.
 */
const SAME_BUILD: Record<string, string> = {
  // debian: the mirror choice moved out of debian/build.sh into lib/guest/debian-mirror.sh (same mirror, same image)
  d70681b589b0c46e1f16f4441c02ef3fc63aad7c18040e1c409797f21ff207b9: '8eed0981df0afd5948707c401e463a50c0e83d8910ef48905e1ca929cba0c02e',
};

/** Whether an image built under recipe hash `built` is current for the recipe whose hash is `now`. */
export const sameRecipe = (built: string, now: string) => built === now || SAME_BUILD[now] === built;

/** SHA-256 over build-image.sh, the recipe files and the build-affecting environment. */
export function recipeHash(name: ImageName): string {
  const g = guestDir();
  const h = createHash('sha256');
  const add = (label: string, data: Buffer | string) => {
    h.update(`${label}\0${Buffer.byteLength(data)}\0`);
    h.update(data);
  };
  add('build-image.sh', fs.readFileSync(path.join(g, 'build-image.sh')));
  const recipe = path.join(g, name);
  if (fs.existsSync(recipe)) {
    for (const f of listFilesRecursive(recipe)) add(`${name}/${f}`, fs.readFileSync(path.join(recipe, f)));
  }
  add('env:INSTACLONE_KERNEL_PACKAGE', config().guest.kernelPackage ?? '');
  return h.digest('hex');
}

/** Read and validate a manifest in `dir`; file paths are re-anchored to `dir`. Null if invalid. */
function readManifestIn(dir: string, name: string): ImageManifest | null {
  let m: ImageManifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ImageManifest;
  } catch {
    return null;
  }
  if (!m || m.name !== name || typeof m.cmdline !== 'string' || !m.files || typeof m.kernel !== 'string') return null;
  const at = (f: string | undefined) => (f ? path.join(dir, path.basename(f)) : undefined);
  const files: ImageManifest['files'] = {
    kernel: at(m.files.kernel)!,
    initrd: at(m.files.initrd)!,
    disk: at(m.files.disk)!,
  };
  const bz = at(m.files.bzImage);
  if (bz && fs.existsSync(bz)) files.bzImage = bz;
  for (const f of [files.kernel, files.initrd, files.disk]) {
    if (!f || !fs.existsSync(f)) return null;
  }
  return { ...m, files };
}

export async function readManifest(name: string, home: string): Promise<ImageManifest | null> {
  return readManifestIn(path.join(imagesDir(home), name), name);
}

export async function listImages(home: string): Promise<ImageManifest[]> {
  const dir = imagesDir(home);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: ImageManifest[] = [];
  for (const e of entries.sort()) {
    if (e.startsWith('.')) continue;
    const m = readManifestIn(path.join(dir, e), e);
    if (m) out.push(m);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Locking

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withLock<T>(lockDir: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'owner'), `${process.pid}\n`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // Held: by a live process (wait) or a dead one (take over).
    let pid = NaN;
    let age = 0;
    try {
      pid = parseInt(fs.readFileSync(path.join(lockDir, 'owner'), 'utf8'), 10);
    } catch {
      try {
        age = Date.now() - fs.statSync(lockDir).mtimeMs;
      } catch {
        continue; // vanished: retry at once
      }
    }
    const stale = Number.isNaN(pid) ? age > 10_000 : !pidAlive(pid);
    if (stale) {
      log(`removing stale lock ${lockDir}`);
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) {
      log(`waiting for another build (lock ${lockDir}, pid ${Number.isNaN(pid) ? '?' : pid})`);
      announced = true;
    }
    await sleep(LOCK_POLL_MS);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

function removeStale(dir: string, name: string): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.startsWith(`.${name}.tmp-`) || e.startsWith(`.${name}.old-`)) {
      fs.rmSync(path.join(dir, e), { recursive: true, force: true });
    }
  }
}

/** Atomically put `tmp` in place of `final` (which may exist). */
function swapIn(dir: string, name: string, tmp: string): void {
  const final = path.join(dir, name);
  if (fs.existsSync(final)) {
    const old = path.join(dir, `.${name}.old-${process.pid}`);
    fs.rmSync(old, { recursive: true, force: true });
    fs.renameSync(final, old);
    fs.renameSync(tmp, final);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, final);
  }
}

// ---------------------------------------------------------------------------------------------
// Building

function runBuild(name: ImageName, tmp: string, finalDir: string, hash: string, log: (l: string) => void): Promise<void> {
  const script = path.join(guestDir(), 'build-image.sh');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, name, tmp], {
      env: { ...process.env, INSTACLONE_RECIPE_HASH: hash, INSTACLONE_IMAGE_FINAL_DIR: finalDir, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    let errorLine: string | null = null;
    const onLines = (buf: { rest: string }, chunk: Buffer) => {
      buf.rest += chunk.toString('utf8');
      const lines = buf.rest.split('\n');
      buf.rest = lines.pop() ?? '';
      for (const l of lines) handle(l);
    };
    const handle = (l: string) => {
      if (!l) return;
      log(l);
      tail.push(l);
      if (tail.length > 20) tail.shift();
      if (l.startsWith('error: ')) errorLine = l.slice('error: '.length);
    };
    const out = { rest: '' };
    const err = { rest: '' };
    child.stdout.on('data', (c: Buffer) => onLines(out, c));
    child.stderr.on('data', (c: Buffer) => onLines(err, c));
    child.on('error', (e) => reject(new Error(`Could not run ${script} (${e.message}); check that bash is installed.`)));
    child.on('close', (code, signal) => {
      handle(out.rest);
      handle(err.rest);
      if (code === 0) return resolve();
      if (errorLine) return reject(new Error(errorLine));
      const last = tail.length ? tail[tail.length - 1] : 'no output';
      reject(
        new Error(
          `Building the ${name} image failed (${signal ? `killed by ${signal}` : `exit code ${code}`}): ${last}; see the build log for details.`,
        ),
      );
    });
  });
}

/** Ensure a valid image with the current recipe hash in `dir` (an images directory). */
async function ensureIn(dir: string, name: ImageName, hash: string, log: (l: string) => void): Promise<ImageManifest> {
  const final = path.join(dir, name);
  const current = readManifestIn(final, name);
  if (current && sameRecipe(current.recipeHash, hash)) return current;
  fs.mkdirSync(dir, { recursive: true });
  return withLock(path.join(dir, `.${name}.lock`), log, async () => {
    const again = readManifestIn(final, name);
    if (again && sameRecipe(again.recipeHash, hash)) return again;
    removeStale(dir, name);
    const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
    try {
      await runBuild(name, tmp, final, hash, log);
      const m = readManifestIn(tmp, name);
      if (!m) throw new Error(`The ${name} image build finished but produced no valid manifest.json in ${tmp}; see the build log.`);
      swapIn(dir, name, tmp);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const m = readManifestIn(final, name);
    if (!m) throw new Error(`The ${name} image vanished from ${final} right after it was built; check for another process deleting it.`);
    return m;
  });
}

/** Copy a valid image from the cache into `dir` (an images directory). */
async function copyIn(src: ImageManifest, srcDir: string, dir: string, name: ImageName, log: (l: string) => void): Promise<ImageManifest> {
  fs.mkdirSync(dir, { recursive: true });
  const final = path.join(dir, name);
  return withLock(path.join(dir, `.${name}.lock`), log, async () => {
    const again = readManifestIn(final, name);
    if (again && again.recipeHash === src.recipeHash) return again;
    removeStale(dir, name);
    const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
    try {
      log(`copying ${name} image from cache ${srcDir}`);
      await fs.promises.cp(srcDir, tmp, { recursive: true });
      const rel = (f: string) => path.join(final, path.basename(f));
      const m: ImageManifest = {
        ...src,
        files: {
          kernel: rel(src.files.kernel),
          initrd: rel(src.files.initrd),
          disk: rel(src.files.disk),
          ...(src.files.bzImage ? { bzImage: rel(src.files.bzImage) } : {}),
        },
      };
      fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
      swapIn(dir, name, tmp);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const m = readManifestIn(final, name);
    if (!m) throw new Error(`Copying the ${name} image into ${final} failed; check free disk space in ${dir}.`);
    return m;
  });
}

const inflight = new Map<string, Promise<ImageManifest>>();

/**
 * Return the manifest of image `name` in `${home}/images`, building it first when it is missing or
 * its recipe changed. Rejects with one clear sentence when the build fails (and leaves no image dir).
 */
export function ensureImage(name: ImageName, home: string, opts: EnsureImageOptions = {}): Promise<ImageManifest> {
  assertName(name);
  const dir = path.resolve(imagesDir(home));
  const key = `${dir}/${name}`;
  const running = inflight.get(key);
  if (running) return running;
  const log = (l: string) => opts.onLog?.(l);
  const p = (async () => {
    const hash = recipeHash(name);
    const cacheEnv = config().guest.imageCache;
    const cache = cacheEnv ? path.resolve(cacheEnv) : null;
    if (cache && cache !== dir) {
      const current = readManifestIn(path.join(dir, name), name);
      if (current && sameRecipe(current.recipeHash, hash)) return current;
      const cached = await ensureIn(cache, name, hash, log);
      return copyIn(cached, path.join(cache, name), dir, name, log);
    }
    return ensureIn(dir, name, hash, log);
  })();
  inflight.set(key, p);
  const clear = () => {
    if (inflight.get(key) === p) inflight.delete(key);
  };
  p.then(clear, clear);
  return p;
}
