// Which QEMU runs here, probed once per binary (`--version`), so that features newer than Debian
// 12's 7.2 are switched on only where they exist (e.g. `readonly=on,rom=off` from 8.2).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { config } from '../config';

export interface QemuVersion {
  binary: string;
  /** "10.0.2" */
  version: string;
  major: number;
  minor: number;
  micro: number;
  /** the whole first line, e.g. "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" */
  text: string;
}

/** QEMU versions below this run, with a warning in /api/health (template RAM mapped read-write). */
export const RECOMMENDED_QEMU = { major: 8, minor: 2 } as const;

const cache = new Map<string, QemuVersion | null>();

/** The QEMU binary; INSTACLONE_QEMU overrides it. */
export const qemuBinaryPath = () => config().qemu.binary;

export function parseQemuVersion(text: string, binary = 'qemu-system-x86_64'): QemuVersion | null {
  const line = text.split('\n')[0] ?? '';
  const m = /version (\d+)\.(\d+)(?:\.(\d+))?/.exec(line);
  if (!m) return null;
  const [major, minor, micro] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return { binary, version: `${major}.${minor}.${micro}`, major, minor, micro, text: line.trim() };
}

/** The version of `binary` (default: the engine's QEMU), or null when it does not run. Cached. */
export function qemuVersion(binary = qemuBinaryPath()): QemuVersion | null {
  if (cache.has(binary)) return cache.get(binary)!;
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const v = r.status === 0 ? parseQemuVersion(r.stdout, binary) : null;
  cache.set(binary, v);
  return v;
}

export function atLeast(v: QemuVersion | null, major: number, minor = 0): boolean {
  return !!v && (v.major > major || (v.major === major && v.minor >= minor));
}

/** QEMU ≥ 8.2 maps a file `readonly=on,rom=off`: opened O_RDONLY, private writable mapping. */
export const hasReadonlyRam = (v: QemuVersion | null) => atLeast(v, 8, 2);

/**
 * The 'lean' device profile is proven on QEMU 7.x only: on 10.0.2 a lean tiny child's clock fell
 * behind the host's (−0.6 s in 2 min, −12.7 s in the identity test) while a standard one kept time
 * (bench/experiments/clock-check.ts), cause not found; 8.x and 9.x were not measured.
 */
export const leanDevicesProven = (v: QemuVersion | null) => !!v && !atLeast(v, 8, 0);

/** QEMU ≥ 9.1 drops privileges with `-run-with user=` (10.0 removed `-runas`). */
export const hasRunWith = (v: QemuVersion | null) => atLeast(v, 9, 1);

/** One sentence for /api/health when this QEMU lacks what the engine prefers, else null. */
export function qemuVersionWarning(v: QemuVersion | null): string | null {
  if (!v || hasReadonlyRam(v)) return null;
  return (
    `QEMU ${v.version} is older than ${RECOMMENDED_QEMU.major}.${RECOMMENDED_QEMU.minor}: children map the template RAM read-write (protected only by the private mapping); ` +
    'to use QEMU 10 from bookworm-backports beside it, start with INSTACLONE_QEMU10=1 npm start (or run scripts/qemu10.sh and set INSTACLONE_QEMU).'
  );
}

/**
 * Firmware folders (`-L`) of a QEMU unpacked into its own prefix (e.g. /opt/qemu10/usr/bin/…):
 * Debian's QEMU looks in /usr/share/qemu and /usr/share/seabios by absolute path, which hold the
 * system QEMU's ROMs. Empty for a binary under /usr. INSTACLONE_QEMU_DATADIR (colon-separated) overrides.
 */
export function qemuDataDirs(binary = qemuBinaryPath()): string[] {
  const forced = config().qemu.datadirs;
  if (forced) return forced;
  if (!path.isAbsolute(binary)) return [];
  const prefix = path.resolve(path.dirname(binary), '..'); // …/usr
  if (prefix === '/usr' || prefix === '/usr/local') return [];
  return ['share/qemu', 'share/seabios'].map((d) => path.join(prefix, d)).filter((d) => fs.existsSync(d));
}

/** Tests only: forget every probe, or pretend `binary` answered `text` to --version. */
export function resetQemuVersionCache(binary?: string, text?: string): void {
  cache.clear();
  if (binary && text !== undefined) cache.set(binary, parseQemuVersion(text, binary));
}
