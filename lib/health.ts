// Facts about this host that decide whether Instaclone can work here. Read, never assumed.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { config } from './config';
import { detectAccel } from './engine/argv';
import { parseQemuVersion, qemuVersionWarning } from './engine/qemu-version';
import { ksmStatus, type KsmStatus } from './engine/ksm';

const exec = promisify(execFile);

export interface HealthReport {
  ok: boolean;
  database: { ok: boolean; kind: 'sqlite' | 'postgresql'; error?: string };
  qemu: { ok: boolean; version?: string; binary: string; error?: string; /** set when this QEMU is older than the engine prefers (< 8.2) */ warning?: string };
  kvm: { available: boolean; reason: string };
  home: { path: string; writable: boolean; freeBytes?: number };
  run: { path: string; writable: boolean; freeBytes?: number };
  memory: { totalBytes: number; availableBytes: number };
  /** Kernel Same-page Merging (INSTACLONE_KSM): whether it merges the VMs, what it saves, why not */
  ksm: KsmStatus;
  images: { name: string; kernel: string; sizeBytes: number; builtAt: string }[];
}

/** The QEMU binary; INSTACLONE_QEMU overrides it (read at call time). */
export const qemuBinary = () => config().qemu.binary;

const versions = new Map<string, Promise<string>>();

/** QEMU's version, asked once per binary and process (every call used to start a QEMU). */
export function qemuVersion(): Promise<string> {
  const bin = qemuBinary();
  let v = versions.get(bin);
  if (!v) {
    v = askQemuVersion();
    versions.set(bin, v);
    v.catch(() => versions.delete(bin)); // a failure is asked again (QEMU may get installed)
  }
  return v;
}

async function askQemuVersion(): Promise<string> {
  try {
    const { stdout } = await exec(qemuBinary(), ['--version'], { timeout: 10_000 });
    const m = /version (\S+)/.exec(stdout);
    return m ? m[1] : stdout.split('\n')[0];
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new Error(
        `QEMU is not installed (${qemuBinary()} not found): install it with "apt-get install qemu-system-x86 qemu-utils" (as root), or run "npm start", which does it for you.`,
      );
    }
    throw new Error(`QEMU (${qemuBinary()}) does not run: ${err.message}`);
  }
}

export function kvmStatus(): { available: boolean; reason: string } {
  let exists = true;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    exists = false;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      return { available: false, reason: '/dev/kvm exists but is not accessible to this user: add it to the "kvm" group to use hardware virtualization.' };
    }
  }
  if (!exists) return { available: false, reason: 'No /dev/kvm on this host: guests run under TCG (software emulation), which works but is slower.' };
  // /dev/kvm can exist where KVM cannot run (no VT-x/AMD-V exposed): the engine tries a real KVM QEMU.
  if (detectAccel() === 'kvm') return { available: true, reason: '/dev/kvm works: guests run with hardware virtualization.' };
  return { available: false, reason: '/dev/kvm exists but a KVM guest cannot start here (no hardware virtualization exposed): guests run under TCG.' };
}

export function dirStatus(dir: string): { path: string; writable: boolean; freeBytes?: number } {
  try {
    // no mkdir and no probe file: health is read often (and used to be anonymous); start-up probes
    fs.accessSync(dir, fs.constants.W_OK);
    const st = fs.statfsSync(dir);
    return { path: dir, writable: true, freeBytes: st.bavail * st.bsize };
  } catch {
    return { path: dir, writable: false };
  }
}

export function hostMemory(): { totalBytes: number; availableBytes: number } {
  const info = fs.readFileSync('/proc/meminfo', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0) * 1024;
  return { totalBytes: kb('MemTotal'), availableBytes: kb('MemAvailable') };
}

export async function health(): Promise<HealthReport> {
  const cfg = config();
  const [database, qemu, images] = await Promise.all([
    (async () => {
      try {
        const { db } = await import('./db');
        await db().$queryRawUnsafe('SELECT 1');
        return { ok: true, kind: cfg.databaseKind };
      } catch (e) {
        return { ok: false, kind: cfg.databaseKind, error: (e as Error).message.split('\n')[0] };
      }
    })(),
    qemuVersion().then(
      (version) => {
        const warning = qemuVersionWarning(parseQemuVersion(`version ${version}`, qemuBinary()));
        return { ok: true, version, binary: qemuBinary(), ...(warning ? { warning } : {}) };
      },
      (e: Error) => ({ ok: false, binary: qemuBinary(), error: e.message }),
    ),
    (async () => {
      try {
        const { listImages } = await import('./guest/images');
        return (await listImages(cfg.home)).map((m) => ({
          name: m.name,
          kernel: m.kernel,
          sizeBytes: m.sizeBytes,
          builtAt: m.builtAt,
        }));
      } catch {
        return [];
      }
    })(),
  ]);
  const home = dirStatus(cfg.home);
  const run = dirStatus(cfg.run);
  return {
    ok: database.ok && qemu.ok && home.writable && run.writable,
    database,
    qemu,
    kvm: kvmStatus(),
    home,
    run,
    memory: hostMemory(),
    ksm: ksmStatus(),
    images,
  };
}

const HEALTH_CACHE_MS = 15_000;
const cache = globalThis as unknown as { __instacloneHealth?: { at: number; ok: Promise<boolean> } };

/** Whether the host is healthy, from a report at most HEALTH_CACHE_MS old (one computation at a time). */
export function cachedHealthOk(now = Date.now()): Promise<boolean> {
  const c = cache.__instacloneHealth;
  if (c && now - c.at < HEALTH_CACHE_MS) return c.ok;
  const ok = health().then((r) => r.ok, () => false);
  cache.__instacloneHealth = { at: now, ok };
  return ok;
}
