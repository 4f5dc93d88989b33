// Pool rows and their members: lookups by id or name, and the one way a member's VM is thrown away.
import { db } from '../../db';
import type { Core } from '../core';
import { EngineError } from '../errors';

export type PoolRow = NonNullable<Awaited<ReturnType<ReturnType<typeof db>['pool']['findUnique']>>>;
export type MemberRow = NonNullable<Awaited<ReturnType<ReturnType<typeof db>['poolMember']['findUnique']>>>;

export async function poolByRef(ref: string): Promise<PoolRow> {
  const p = (await db().pool.findUnique({ where: { name: ref } })) ?? (await db().pool.findUnique({ where: { id: ref } }));
  if (!p) throw new EngineError('not_found', `No pool named "${ref}"; list pools with \`instaclone pool ls\`.`);
  return p;
}

/** Removes a member's VM (QEMU, files, lease, row) and the member row; never throws. */
export async function dropMember(core: Core, vmId: string): Promise<void> {
  const vm = await db().vm.findUnique({ where: { id: vmId } });
  if (vm) {
    core.busy.add(vmId);
    try {
      await core.withLock(vmId, () => core.destroyVm(vm.id, vm.runDir, core.vmms.get(vm.id)?.pid ?? vm.pid)).catch(() => undefined);
    } finally {
      core.busy.delete(vmId);
    }
  }
  await db().poolMember.deleteMany({ where: { vmId } }).catch(() => undefined);
}

export const clearClaim = { state: 'spare', claimedBy: null, label: null, claimedAt: null, expiresAt: null, claimKey: null } as const;
