// The claim's fast path: one atomic UPDATE … RETURNING takes the oldest ready spare of an active pool
// (on the pool's current template) and one SELECT reads the child. Raw SQL on purpose: measured here,
// a Prisma model query costs ~1–2 ms of CPU (query compiler) and a raw one ~0.2 ms, and the claim is
// the one path that must stay at a few ms (bench/experiments/claim-path.ts). Same SQL on SQLite
// (≥ 3.35) and PostgreSQL; dates (claimedAt, expiresAt) are set right after, through Prisma.
import { db } from '../../db';

export interface Taken {
  vmId: string;
  poolId: string;
  vm: { id: string; name: string; state: string; hostname: string | null; mac: string | null; ip: string | null; machineId: string | null; vmgenid: string | null; ports: string };
}

/** `claimKey`: the claim request taking it (ClaimRequest.key), stamped in the same update, or null. */
export async function takeSpareFast(ref: string, actor: string, label: string | null, claimKey: string | null = null): Promise<Taken | null> {
  // under PostgreSQL's read committed two claims can pick the same row; the loser updates nothing
  for (let attempt = 0; attempt < 5; attempt++) {
    const rows = await db().$queryRaw<{ vmId: string; poolId: string }[]>`
      UPDATE "PoolMember" SET "state" = 'claimed', "claimedBy" = ${actor}, "label" = ${label}, "claimKey" = ${claimKey}
      WHERE "state" = 'spare' AND "vmId" = (
        SELECT m."vmId" FROM "PoolMember" m JOIN "Pool" p ON p."id" = m."poolId"
        WHERE (p."name" = ${ref} OR p."id" = ${ref}) AND p."state" = 'active' AND m."state" = 'spare' AND m."templateId" = p."templateId"
        ORDER BY m."createdAt" LIMIT 1)
      RETURNING "vmId", "poolId"`;
    if (rows.length === 0) {
      const left = await db().$queryRaw<{ n: number | bigint }[]>`
        SELECT COUNT(*) AS n FROM "PoolMember" m JOIN "Pool" p ON p."id" = m."poolId"
        WHERE (p."name" = ${ref} OR p."id" = ${ref}) AND p."state" = 'active' AND m."state" = 'spare' AND m."templateId" = p."templateId"`;
      if (Number(left[0]?.n ?? 0) === 0) return null;
      continue;
    }
    return withVm(rows[0]);
  }
  return null;
}

/** The child still claimed under claim request `claimKey` (after a crash between the take and its record), or null. */
export async function takenWithKey(claimKey: string): Promise<Taken | null> {
  const rows = await db().$queryRaw<{ vmId: string; poolId: string }[]>`
    SELECT "vmId", "poolId" FROM "PoolMember" WHERE "claimKey" = ${claimKey} AND "state" = 'claimed'`;
  return rows[0] ? withVm(rows[0]) : null;
}

async function withVm({ vmId, poolId }: { vmId: string; poolId: string }): Promise<Taken> {
  const vms = await db().$queryRaw<Taken['vm'][]>`
    SELECT "id", "name", "state", "hostname", "mac", "ip", "machineId", "vmgenid", "ports" FROM "Vm" WHERE "id" = ${vmId}`;
  return { vmId, poolId, vm: vms[0] ?? { id: vmId, name: vmId, state: 'removed', hostname: null, mac: null, ip: null, machineId: null, vmgenid: null, ports: '{}' } };
}
