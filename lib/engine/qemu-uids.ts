// Each QEMU runs under its own unprivileged uid from a small pool (no /etc/passwd entry needed:
// `-runas UID:GID`), in the QEMU user's group (which may only traverse the dirs above the run
// dirs). A guest that escapes into its QEMU can then reach its own run dir and nothing of any other
// VM's. The uid in use is the owner of the VM's run dir, so it survives an engine restart.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { EngineError } from './errors';

/**
 * This engine's uids. Several agents on one machine each scan only their own run dirs, so they must
 * draw from disjoint blocks: an agent takes block PORT (config.qemu.uidBlock; ports are unique per
 * machine, and lib/cluster/uid-block.ts refuses a second agent on the same block), a console block 0.
 */
export function uidPool(): { base: number; count: number } {
  const { uidBase, uidCount: count, uidBlock } = config().qemu;
  return { base: uidBase + uidBlock * count, count };
}

export const inPool = (uid: number, p = uidPool()) => uid >= p.base && uid < p.base + p.count;

/** Pool uids in use: owners of run dirs under INSTACLONE_RUN/vms, and uids of live processes. */
function usedUids(p: { base: number; count: number }): Set<number> {
  const used = new Set<number>();
  const vms = path.join(config().run, 'vms');
  for (const e of fs.existsSync(vms) ? fs.readdirSync(vms) : []) {
    try {
      const uid = fs.lstatSync(path.join(vms, e)).uid;
      if (inPool(uid, p)) used.add(uid);
    } catch {
      /* gone */
    }
  }
  // a QEMU whose run dir was removed while it still ran must not share its uid with a new VM
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const uid = fs.statSync(`/proc/${pid}`).uid;
      if (inPool(uid, p)) used.add(uid);
    } catch {
      /* gone */
    }
  }
  return used;
}

/**
 * Gives `runDir` (a directory the engine made) its own pool uid, keeping the one it has, and
 * returns it. Synchronous from the scan to the chown, so two launches cannot pick the same uid.
 */
export function assignQemuUid(runDir: string, gid: number): number {
  const st = fs.lstatSync(runDir);
  if (!st.isDirectory()) throw new EngineError('internal', `${runDir} is not a directory; remove it and try again.`);
  const p = uidPool();
  if (inPool(st.uid, p)) return st.uid;
  const used = usedUids(p);
  for (let uid = p.base; uid < p.base + p.count; uid++) {
    if (used.has(uid)) continue;
    fs.lchownSync(runDir, uid, gid);
    return uid;
  }
  throw new EngineError('insufficient', `All ${p.count} QEMU uids of the pool (${p.base}-${p.base + p.count - 1}) are in use: remove VMs, or widen INSTACLONE_QEMU_UID_COUNT.`);
}

/** The pool uid that owns `runDir`, or null. */
export function qemuUidOf(runDir: string): number | null {
  try {
    const uid = fs.lstatSync(runDir).uid;
    return inPool(uid) ? uid : null;
  } catch {
    return null;
  }
}
