// Optional quotas per user or API token (the principal's name: `alice`, `token:ci`): at most
// `maxChildren` children and `maxMemoryMiB` of guest RAM in running VMs. Checked by admission control
// before every fork, prepare and start; a pool's spares count against the pool's owner. Memory is the
// guest RAM each VM was given (--memory), as a cloud quota counts it, not what the host measures: a
// user can predict it. Kept in the `Setting` table (`quota.<name>`, JSON); `*` is everyone's default.
import { db } from '../db';
import { EngineError } from './errors';

export interface Quota {
  maxChildren: number | null;
  maxMemoryMiB: number | null;
}

export interface QuotaUse {
  children: number;
  memoryMiB: number;
}

/** What an admitted request adds: new children, and guest RAM that will run. */
export type QuotaRequest = QuotaUse;

const PREFIX = 'quota.';
export const DEFAULT_QUOTA_NAME = '*';

function parse(value: string): Quota | null {
  try {
    const v = JSON.parse(value) as Partial<Quota>;
    const n = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : null);
    return { maxChildren: n(v.maxChildren), maxMemoryMiB: n(v.maxMemoryMiB) };
  } catch {
    return null;
  }
}

export async function listQuotas(): Promise<({ name: string } & Quota)[]> {
  const rows = await db().setting.findMany({ where: { key: { startsWith: PREFIX } }, orderBy: { key: 'asc' } });
  return rows.flatMap((r) => {
    const q = parse(r.value);
    return q ? [{ name: r.key.slice(PREFIX.length), ...q }] : [];
  });
}

/** The quota in force for `owner`: its own, else the default (`*`), else none. */
export async function quotaFor(owner: string): Promise<Quota | null> {
  const rows = await db().setting.findMany({ where: { key: { in: [PREFIX + owner, PREFIX + DEFAULT_QUOTA_NAME] } } });
  const own = rows.find((r) => r.key === PREFIX + owner) ?? rows.find((r) => r.key === PREFIX + DEFAULT_QUOTA_NAME);
  return own ? parse(own.value) : null;
}

/** Sets (or, with both limits null, removes) the quota of `name`. */
export async function setQuota(name: string, q: Quota): Promise<void> {
  const key = PREFIX + name;
  if (q.maxChildren === null && q.maxMemoryMiB === null) {
    await db().setting.deleteMany({ where: { key } });
    return;
  }
  const value = JSON.stringify(q);
  await db().setting.upsert({ where: { key }, create: { key, value }, update: { value } });
}

/** What `owner` holds now: its children (any state: each keeps a disk and a name) and the guest RAM of its running VMs. */
export async function quotaUse(owner: string): Promise<QuotaUse> {
  const vms = await db().vm.findMany({ where: { owner }, select: { kind: true, state: true, memoryMiB: true } });
  return {
    children: vms.filter((v) => v.kind === 'child').length,
    memoryMiB: vms.filter((v) => v.state === 'running' || v.state === 'starting').reduce((a, v) => a + v.memoryMiB, 0),
  };
}

// Admitted requests not yet materialized, per owner (two forks started together both count).
const holder = globalThis as unknown as { __instacloneQuotaPending?: Map<symbol, { owner: string } & QuotaRequest> };
const pendingMap = (holder.__instacloneQuotaPending ??= new Map());

function pending(owner: string): QuotaUse {
  const sum = { children: 0, memoryMiB: 0 };
  for (const p of pendingMap.values()) {
    if (p.owner !== owner) continue;
    sum.children += p.children;
    sum.memoryMiB += p.memoryMiB;
  }
  return sum;
}

/** The sentence for a refusal, or null when `req` fits in `quota` on top of `use` (pure). */
export function quotaRefusal(owner: string, quota: Quota | null, use: QuotaUse, req: QuotaRequest): string | null {
  if (!quota) return null;
  if (quota.maxChildren !== null && req.children > 0 && use.children + req.children > quota.maxChildren) {
    const left = Math.max(0, quota.maxChildren - use.children);
    return `The quota of ${owner} allows ${quota.maxChildren} children and ${use.children} exist, so ${left === 0 ? 'no more fit' : `only ${left} more fit`} (asked for ${req.children}): remove some children, or ask an admin to raise the quota.`;
  }
  if (quota.maxMemoryMiB !== null && req.memoryMiB > 0 && use.memoryMiB + req.memoryMiB > quota.maxMemoryMiB) {
    return `The quota of ${owner} allows ${quota.maxMemoryMiB} MiB of guest memory in running VMs and ${use.memoryMiB} MiB run already, so ${req.memoryMiB} MiB more do not fit: stop or remove some VMs, or ask an admin to raise the quota.`;
  }
  return null;
}

/** Children `owner` may still have under its quota (Infinity without one; the engine's own work has none). */
export async function childRoom(owner: string | undefined): Promise<number> {
  if (!owner || owner === 'system' || owner.startsWith('pool:')) return Infinity;
  const q = await quotaFor(owner);
  if (q?.maxChildren === null || !q) return Infinity;
  return Math.max(0, q.maxChildren - (await quotaUse(owner)).children - pending(owner).children);
}

/**
 * Throws EngineError('quota', …) when `req` would take `owner` past its quota; otherwise reserves it
 * until the returned release() (the operation's end). No owner (the system itself): no quota.
 */
export async function checkQuota(owner: string | undefined, req: QuotaRequest): Promise<() => void> {
  if (!owner || owner === 'system' || owner.startsWith('pool:')) return () => undefined; // the engine's own work
  const quota = await quotaFor(owner);
  if (!quota) return () => undefined;
  const now = await quotaUse(owner);
  const p = pending(owner);
  const why = quotaRefusal(owner, quota, { children: now.children + p.children, memoryMiB: now.memoryMiB + p.memoryMiB }, req);
  if (why) throw new EngineError('quota', why);
  const key = Symbol(owner);
  pendingMap.set(key, { owner, ...req });
  return () => void pendingMap.delete(key);
}
