// qcow2 overlays and backing chains (qemu-img, argv only), template file checksums.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { EngineError } from './errors';

const execFileP = promisify(execFile);

/** Creates a qcow2 overlay `file` backed by `backing` (a qcow2). */
export async function createOverlay(file: string, backing: string): Promise<void> {
  try {
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, file]);
  } catch (e) {
    const msg = ((e as { stderr?: string }).stderr || (e as Error).message).trim();
    throw new EngineError('internal', `Could not create the disk overlay ${file} on ${backing}: ${msg}`);
  }
}

/** The backing chain of `file`, top first (the file itself included). */
export async function backingChain(file: string): Promise<string[]> {
  const { stdout } = await execFileP('qemu-img', ['info', '--backing-chain', '--output=json', '-U', file]);
  return (JSON.parse(stdout) as { filename: string }[]).map((i) => i.filename);
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function rmrf(p: string | null | undefined): void {
  if (!p) return;
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

export function mkdirPrivate(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  return dir;
}
