// Imported images: an operator's own bootable disk, converted into a clean standalone
// qcow2 that Instaclone owns in INSTACLONE_HOME/images/imported/NAME.qcow2, plus a database row.
//
// Every input is hostile until checked: the file is inspected with qemu-img on its own (no backing
// chain is ever opened), a backing file, an external data file or extra vmdk extents are refused
// (all of them name other paths), a raw file must carry a partition table, a qcow2 must pass
// `qemu-img check`, the copy must fit in the free space, and the convert writes a partial file
// that becomes the image only by a rename after success. Whatever fails, nothing is left behind.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { db } from '../db';
import { BUILTIN_IMAGES, type ImportImageInput } from '../validations';
import { EngineError } from './errors';
import { checkQcow2, convertToQcow2, info, measure, QemuImgError, type ImgInfo } from './qemu-img';

export interface ImportedImage {
  name: string;
  format: string;
  virtualSizeBytes: number;
  sizeBytes: number;
  firmware: 'bios' | 'uefi';
  importedAt: string;
}

export const importedDir = () => path.join(config().home, 'images', 'imported');
export const importedPath = (name: string) => path.join(importedDir(), `${name}.qcow2`);
const PARTIAL_RE = /^\.(?:[a-z0-9-]+\.partial-\d+-[0-9a-z]+\.qcow2|upload-[0-9a-f]+)$/;
/** headroom kept free on INSTACLONE_HOME after an import (the database and overlays need room too) */
const HEADROOM = 256 << 20;

/** A fresh path for a streamed upload (removed by the caller, or by cleanPartialImports after a crash). */
export function uploadTempPath(): string {
  fs.mkdirSync(importedDir(), { recursive: true, mode: 0o700 });
  return path.join(importedDir(), `.upload-${randomBytes(8).toString('hex')}`);
}

/** Bytes free for imports on INSTACLONE_HOME, less the headroom kept. */
export function importRoom(): number {
  fs.mkdirSync(importedDir(), { recursive: true, mode: 0o700 });
  const s = fs.statfsSync(importedDir());
  return s.bavail * s.bsize - HEADROOM;
}

/** Names being imported by this process (a second import of the same name is refused at once). */
const inFlight = new Set<string>();

const rowView = (r: { name: string; format: string | null; virtualSizeBytes: bigint | null; sizeBytes: bigint; firmware: string; importedAt: Date | null; builtAt: Date }): ImportedImage => ({
  name: r.name,
  format: r.format ?? 'qcow2',
  virtualSizeBytes: Number(r.virtualSizeBytes ?? 0),
  sizeBytes: Number(r.sizeBytes),
  firmware: r.firmware === 'uefi' ? 'uefi' : 'bios',
  importedAt: (r.importedAt ?? r.builtAt).toISOString(),
});

export async function listImported(): Promise<ImportedImage[]> {
  return (await db().image.findMany({ where: { source: 'imported' }, orderBy: { name: 'asc' } })).map(rowView);
}

export async function findImported(name: string) {
  const r = await db().image.findUnique({ where: { name } });
  return r && r.source === 'imported' && r.path ? { ...rowView(r), path: r.path } : null;
}

/** Removes partial files of imports that a crash or restart interrupted (engine start). */
export function cleanPartialImports(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(importedDir());
  } catch {
    return;
  }
  for (const e of entries) if (PARTIAL_RE.test(e)) fs.rmSync(path.join(importedDir(), e), { force: true });
}

function mbrOrGpt(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(1024);
    const n = fs.readSync(fd, b, 0, 1024, 0);
    if (n >= 512 && b[510] === 0x55 && b[511] === 0xaa) return true;
    return n >= 520 && b.subarray(512, 520).toString('latin1') === 'EFI PART';
  } finally {
    fs.closeSync(fd);
  }
}

/** A text VMDK descriptor ("# Disk DescriptorFile", createType=…), not a binary VMDK (magic KDMV or COWD). */
export function isVmdkDescriptor(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4096);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    const head = b.subarray(0, n);
    const magic = head.subarray(0, 4).toString('latin1');
    if (magic === 'KDMV' || magic === 'COWD') return false;
    const text = head.toString('latin1');
    return /#\s*Disk\s*DescriptorFile/i.test(text) || /^\s*createType\s*=/im.test(text);
  } finally {
    fs.closeSync(fd);
  }
}

/** The paths an image names (backing file, external data file, vmdk extents other than itself). */
function namedPaths(i: ImgInfo, file: string): string[] {
  const out: string[] = [];
  if (i['backing-filename']) out.push(`backing file ${i['backing-filename']}`);
  const d = i['format-specific']?.data;
  if (d?.['data-file']) out.push(`external data file ${d['data-file']}`);
  for (const x of d?.extents ?? []) if (x.filename && path.resolve(x.filename) !== path.resolve(file)) out.push(`extent ${x.filename}`);
  return out;
}

export interface ImportOptions {
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  /** the file is our own temporary upload (its name in messages is "the uploaded file") */
  uploaded?: boolean;
}

/**
 * Imports `input.disk` (or `opts` caller's uploaded temp file given as input.disk) as image
 * `input.name`. Throws EngineError with one sentence; leaves no file or row when it fails.
 */
export async function importImage(p: ImportImageInput, opts: ImportOptions = {}): Promise<ImportedImage> {
  if (!p.disk) throw new EngineError('invalid', 'Give the disk file to import (--disk FILE) or upload it.');
  const src = path.resolve(p.disk);
  const what = opts.uploaded ? 'The uploaded file' : src;
  if ((BUILTIN_IMAGES as readonly string[]).includes(p.name) || (await db().image.findUnique({ where: { name: p.name } })) || inFlight.has(p.name)) {
    throw new EngineError('conflict', `An image named "${p.name}" already exists; choose another name or remove it with \`instaclone images rm ${p.name}\`.`);
  }
  inFlight.add(p.name);
  const dir = importedDir();
  const partial = path.join(dir, `.${p.name}.partial-${process.pid}-${Date.now().toString(36)}.qcow2`);
  const final = importedPath(p.name);
  try {
    let st: fs.Stats;
    try {
      st = fs.statSync(src);
    } catch (e) {
      throw new EngineError('not_found', `${what} cannot be read (${(e as NodeJS.ErrnoException).code}); give the path of a disk image on the console's host.`);
    }
    if (!st.isFile()) throw new EngineError('invalid', `${what} is not a regular file; give the path of a disk image file.`);
    // another VM's disk, a template's RAM or checkpoint: never importable (that would hand one
    // operator's data to another); our own upload temp files are the exception
    if (!opts.uploaded) {
      const real = fs.realpathSync(src);
      for (const own of [config().home, config().run]) {
        const root = fs.existsSync(own) ? fs.realpathSync(own) : path.resolve(own);
        if (real === root || real.startsWith(root + path.sep)) throw new EngineError('invalid', `${what} is inside Instaclone's own state (${own}); import a disk from elsewhere.`);
      }
    }
    if (st.size < 512) throw new EngineError('invalid', `${what} is not a disk image (${st.size} bytes); give a bootable disk image.`);
    // a VMDK text descriptor names its extent files, and qemu-img opens them as soon as it reads the
    // descriptor (even `info`): refuse it before any qemu-img sees the file
    if (isVmdkDescriptor(src)) {
      throw new EngineError('invalid', `${what} is a VMDK descriptor that refers to other files, which Instaclone never opens; export the disk as one monolithic (sparse or streamOptimized) VMDK, qcow2 or raw image and import that.`);
    }
    opts.onProgress?.('inspecting the disk');
    let i: ImgInfo;
    try {
      i = await info(src, p.format === 'auto' ? undefined : p.format, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new EngineError('invalid', `${what} is not a readable ${p.format === 'auto' ? 'disk image' : `${p.format} image`} (qemu-img: ${(e as Error).message}); check the file and the --format you gave.`);
    }
    const format = i.format;
    if (!(['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx', 'vpc'] as string[]).includes(format)) {
      throw new EngineError('invalid', `${what} is a ${format} image, which Instaclone does not import; convert it to qcow2 or raw first.`);
    }
    const named = namedPaths(i, src);
    if (named.length) {
      throw new EngineError('invalid', `${what} refers to other files (${named.join(', ')}), which Instaclone never opens; flatten it into one standalone image first (e.g. \`qemu-img convert -O qcow2 IN OUT\` on a copy you trust) and import that.`);
    }
    if (i['format-specific']?.data?.corrupt) throw new EngineError('invalid', `${what} is marked corrupt by qemu-img; repair it (\`qemu-img check -r all\`) or export the disk again.`);
    if (format === 'raw' && !mbrOrGpt(src)) {
      throw new EngineError('invalid', `${what} is not a disk image: it has no partition table (no MBR or GPT signature); give a whole bootable disk, not a file system or another file.`);
    }
    if (format === 'qcow2') {
      const bad = await checkQcow2(src, opts.signal);
      if (bad) throw new EngineError('invalid', `${what} is a damaged or truncated qcow2 image (${bad}); copy or export the disk again and import that.`);
    }
    let need: number;
    try {
      need = await measure(src, format, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new EngineError('invalid', `${what} cannot be read to the end (qemu-img: ${(e as Error).message}); it looks truncated or damaged, so copy or export the disk again.`);
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fsInfo = fs.statfsSync(dir);
    const free = fsInfo.bavail * fsInfo.bsize;
    if (need + HEADROOM > free) {
      const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
      throw new EngineError('insufficient', `Importing ${what} needs about ${mib(need)} in ${dir}, but only ${mib(free)} is free (with ${mib(HEADROOM)} kept in reserve); free some space and import again.`);
    }
    opts.onProgress?.(`converting ${format} to qcow2 (${Math.ceil(need / 2 ** 20)} MiB)`);
    try {
      await convertToQcow2(src, format, partial, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw new EngineError('conflict', `The import of "${p.name}" was cancelled; nothing was kept.`);
      const msg = (e as QemuImgError).message;
      if (/No space left/i.test(msg)) throw new EngineError('insufficient', `The disk filled up while importing ${what}; nothing was kept. Free some space and import again.`);
      throw new EngineError('invalid', `${what} could not be read completely (qemu-img: ${msg}); it looks truncated or damaged, so copy or export the disk again.`);
    }
    // the result must be what we meant to write: a standalone qcow2
    const out = await info(partial, 'qcow2');
    if (namedPaths(out, partial).length) throw new EngineError('internal', 'The converted image unexpectedly names another file; nothing was kept.');
    fs.chmodSync(partial, 0o600);
    if (fs.existsSync(final)) throw new EngineError('conflict', `An image file ${final} already exists; remove it and import again.`);
    fs.renameSync(partial, final);
    const now = new Date();
    const size = fs.statSync(final).size;
    try {
      const row = await db().image.create({
        data: { name: p.name, kernel: '', sizeBytes: BigInt(size), builtAt: now, recipeHash: '', source: 'imported', format, virtualSizeBytes: BigInt(i['virtual-size']), firmware: p.firmware, path: final, importedAt: now },
      });
      return rowView(row);
    } catch (e) {
      fs.rmSync(final, { force: true });
      if (/Unique constraint/i.test((e as Error).message)) throw new EngineError('conflict', `An image named "${p.name}" already exists; choose another name.`);
      throw e;
    }
  } catch (e) {
    fs.rmSync(partial, { force: true });
    if (opts.signal?.aborted && !(e instanceof EngineError)) throw new EngineError('conflict', `The import of "${p.name}" was cancelled; nothing was kept.`);
    throw e;
  } finally {
    inFlight.delete(p.name);
  }
}

/** Removes an imported image; refused while a template was prepared from it. */
export async function removeImported(name: string): Promise<{ name: string; removed: true }> {
  if ((BUILTIN_IMAGES as readonly string[]).includes(name)) throw new EngineError('conflict', `"${name}" is a built-in image and cannot be removed; only imported images can.`);
  const img = await findImported(name);
  if (!img) throw new EngineError('not_found', `No imported image named "${name}"; list them with \`instaclone images\`.`);
  const users = await db().template.findMany({ where: { image: name }, select: { name: true } });
  if (users.length) {
    throw new EngineError('conflict', `Image "${name}" is used by template(s) ${users.slice(0, 3).map((t) => t.name).join(', ')}${users.length > 3 ? ', …' : ''}; remove them first (\`instaclone rm TEMPLATE --force\`).`);
  }
  await db().image.delete({ where: { name } });
  fs.rmSync(img.path, { force: true });
  return { name, removed: true };
}
