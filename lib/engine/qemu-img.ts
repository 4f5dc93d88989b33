// qemu-img, run without a shell and without ever following a path that an image names: `info` and
// `measure` open the file alone (no --backing-chain; qemu-img info opens images without their
// backing file), `-U` so that an image in use elsewhere is not locked, `-f` always explicit once
// the format is known, and the file given as an absolute path (no "proto:" prefix is parsed).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { config } from '../config';

const qemuImg = () => config().qemu.img;

export interface ImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string; extents?: { filename?: string }[]; corrupt?: boolean } };
}

export class QemuImgError extends Error {
  constructor(message: string, readonly stderr: string, readonly stdout: string) {
    super(message);
  }
}

export function run(args: string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(qemuImg(), args, { maxBuffer: 16 << 20, signal: opts.signal, timeout: opts.timeoutMs ?? 0, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const said = String(stderr || err.message).trim().split('\n').filter(Boolean).slice(-1).join('');
        reject(new QemuImgError(said.replace(/^qemu-img: /, '').slice(0, 300), String(stderr), String(stdout)));
      } else resolve(stdout);
    });
  });
}

const abs = (f: string) => path.resolve(f);

/** `qemu-img info` of the file alone; `format` undefined = let qemu-img probe it. */
export async function info(file: string, format?: string, signal?: AbortSignal): Promise<ImgInfo> {
  const args = ['info', '--output=json', '-U', ...(format ? ['-f', format] : []), abs(file)];
  return JSON.parse(await run(args, { signal, timeoutMs: 60_000 })) as ImgInfo;
}

/** Bytes a qcow2 copy of `file` needs (qemu-img measure). */
export async function measure(file: string, format: string, signal?: AbortSignal): Promise<number> {
  const out = JSON.parse(await run(['measure', '--output=json', '-U', '-f', format, '-O', 'qcow2', abs(file)], { signal, timeoutMs: 600_000 })) as { required: number };
  return out.required;
}

/** qcow2 consistency (a truncated or damaged qcow2 fails here). Returns a problem in words, or null. */
export async function checkQcow2(file: string, signal?: AbortSignal): Promise<string | null> {
  let out: string;
  try {
    out = await run(['check', '--output=json', '-U', '-f', 'qcow2', abs(file)], { signal, timeoutMs: 600_000 });
  } catch (e) {
    // exit 2 (corruptions) or 3 (leaks) still print the JSON report on stdout
    if (signal?.aborted || !(e instanceof QemuImgError) || !e.stdout.trim()) return (e as Error).message || 'qemu-img check failed';
    out = e.stdout;
  }
  try {
    const r = JSON.parse(out) as { 'check-errors'?: number; corruptions?: number };
    if ((r['check-errors'] ?? 0) > 0 || (r.corruptions ?? 0) > 0) return `${r.corruptions ?? 0} corrupt cluster(s), ${r['check-errors'] ?? 0} check error(s)`;
    return null;
  } catch {
    return 'qemu-img check gave no report';
  }
}

/** Converts `src` (format `format`, given explicitly) into a fresh standalone qcow2 `dst`. */
export async function convertToQcow2(src: string, format: string, dst: string, signal?: AbortSignal): Promise<void> {
  await run(['convert', '-U', '-q', '-f', format, '-O', 'qcow2', '-o', 'compat=1.1', abs(src), abs(dst)], { signal });
}
