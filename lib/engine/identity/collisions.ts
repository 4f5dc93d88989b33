// No two children may share an identity: pairwise checks among siblings and with their parent.
import { EngineError } from '../errors';
import type { VerifiedIdentity } from './plan';

/**
 * Pairwise collisions among verified identities (siblings) and with their parent, in words:
 * 'hostname "a-1" is shared by a-1 and a-2'. Empty when all is unique.
 */
export function findCollisions(items: VerifiedIdentity[], parent?: Partial<VerifiedIdentity>): string[] {
  const fields: [keyof VerifiedIdentity, string][] = [
    ['hostname', 'hostname'],
    ['mac', 'MAC'],
    ['ip', 'IP address'],
    ['machineId', 'machine-id'],
    ['vmgenid', 'vmgenid'],
    ['urandomHex', '/dev/urandom read'],
    ['sshHostKey', 'SSH host key'],
  ];
  const out: string[] = [];
  for (const [key, word] of fields) {
    const norm = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v);
    const groups = new Map<unknown, string[]>();
    for (const it of items) {
      const v = norm(it[key]);
      if (v === undefined || v === null || v === '') continue;
      const g = groups.get(v) ?? [];
      g.push(it.hostname);
      groups.set(v, g);
    }
    for (const [v, names] of groups) {
      if (names.length > 1) out.push(`${word} "${String(v)}" is shared by ${names.join(' and ')}`);
    }
    const pv = parent ? norm(parent[key]) : undefined;
    if (pv !== undefined && pv !== null && pv !== '') {
      const names = groups.get(pv);
      if (names) out.push(`${word} "${String(pv)}" of ${names.join(' and ')} is still the parent's`);
    }
  }
  return out;
}

/**
 * The collision check of a fork: the fork's freshly verified children against each other, against
 * the template's other live children and against the parent. Throws EngineError('qemu') naming
 * every collision (the caller removes the fork's children); returns quietly when all is unique.
 */
export function assertNoCollisions(
  forked: VerifiedIdentity[],
  others: VerifiedIdentity[],
  parent: Partial<VerifiedIdentity> | undefined,
  what: string,
): void {
  const c = findCollisions([...forked, ...others], parent);
  if (c.length) {
    throw new EngineError('qemu', `${what}: identity check failed: ${c.join('; ')}; the fork's children were removed, fork again.`, { collisions: c });
  }
}

/** A stored identity JSON (Vm.identity) as a VerifiedIdentity, or null when it has none. */
export function parseStoredIdentity(json: string | null | undefined): VerifiedIdentity | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json) as VerifiedIdentity;
    return v && typeof v.hostname === 'string' && v.hostname ? v : null;
  } catch {
    return null;
  }
}
