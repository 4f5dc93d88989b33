// A few MiB held back in INSTACLONE_HOME. When the disk fills up in the middle of an operation,
// the rollback still has to write the database (SQLite needs room for its journal) to forget the
// half-made VM; releasing this file gives it that room.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';

const RESERVE_BYTES = 8 * 2 ** 20;
const reservePath = () => path.join(config().home, '.space-reserve');

export const isDiskFull = (e: unknown) =>
  /ENOSPC|No space left on device|SQLITE_FULL|database or disk is full/i.test(String((e as Error)?.message ?? e) + String((e as { code?: string })?.code ?? ''));

/** Creates the reserve when it is missing (best effort: on a full disk there is nothing to hold back). */
export function ensureReserve(): void {
  const file = reservePath();
  try {
    if (fs.statSync(file).size >= RESERVE_BYTES) return;
  } catch {
    /* missing */
  }
  try {
    fs.writeFileSync(file, Buffer.alloc(RESERVE_BYTES), { mode: 0o600 });
  } catch {
    fs.rmSync(file, { force: true });
  }
}

/** Runs fn; if it fails because the disk is full, releases the reserve and tries once more. */
export async function withSpace<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isDiskFull(e) || !fs.existsSync(reservePath())) throw e;
    fs.rmSync(reservePath(), { force: true });
    return fn();
  }
}
