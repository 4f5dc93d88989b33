// Operator-set limits for admission control, kept in the database `Setting` table (one row per
// limit, key `limits.<name>`, value a JSON number or null). Anything not set uses DEFAULT_LIMITS.
// Read by lib/engine/admission.ts before every prepare and fork; written by PUT /api/v1/settings.
import { db } from '../db';

export interface Limits {
  /** most children (of any state) one template may have; null = no limit */
  maxChildrenPerTemplate: number | null;
  /** share (0..1] of the host's MemTotal that all VMs together (QEMU private memory + RAM files and overlays on tmpfs) may use */
  maxMemoryShare: number;
  /** MemAvailable that must stay free for the host after a prepare or fork (MiB) */
  minFreeMemoryMiB: number;
  /** free space that must stay on INSTACLONE_RUN (tmpfs: RAM files, non-persistent overlays, sockets) (MiB) */
  minFreeRunMiB: number;
  /** free space that must stay on INSTACLONE_HOME (checkpoints, base and persistent disks, logs) (MiB) */
  minFreeHomeMiB: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxChildrenPerTemplate: null,
  maxMemoryShare: 0.8,
  minFreeMemoryMiB: 1024,
  minFreeRunMiB: 64,
  minFreeHomeMiB: 1024,
});

export const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

const PREFIX = 'limits.';

/** The limits in force: stored values over the defaults. A stored value that does not parse is ignored. */
export async function getLimits(): Promise<Limits> {
  const rows = await db().setting.findMany({ where: { key: { startsWith: PREFIX } } });
  const out: Limits = { ...DEFAULT_LIMITS };
  for (const r of rows) {
    const k = r.key.slice(PREFIX.length) as keyof Limits;
    if (!LIMIT_KEYS.includes(k)) continue;
    let v: unknown;
    try {
      v = JSON.parse(r.value);
    } catch {
      continue;
    }
    if (v === null && k === 'maxChildrenPerTemplate') out.maxChildrenPerTemplate = null;
    else if (typeof v === 'number' && Number.isFinite(v)) (out as unknown as Record<string, number>)[k] = v;
  }
  return out;
}

/**
 * Stores the given limits (already validated by lib/validations/settings.ts). `null` for
 * maxChildrenPerTemplate means "no limit"; `undefined` leaves a limit unchanged.
 * Returns the limits now in force.
 */
export async function setLimits(patch: Partial<Limits>): Promise<Limits> {
  const ops = [];
  for (const k of LIMIT_KEYS) {
    if (!(k in patch) || patch[k] === undefined) continue;
    const value = JSON.stringify(patch[k]);
    ops.push(db().setting.upsert({ where: { key: PREFIX + k }, create: { key: PREFIX + k, value }, update: { value } }));
  }
  if (ops.length) await db().$transaction(ops);
  return getLimits();
}

/** Forgets every stored limit (back to DEFAULT_LIMITS). */
export async function resetLimits(): Promise<Limits> {
  await db().setting.deleteMany({ where: { key: { startsWith: PREFIX } } });
  return getLimits();
}
