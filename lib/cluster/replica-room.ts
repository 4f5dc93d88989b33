// Room for a replica in this host's template storage: template RAM files live in INSTACLONE_RUN
// (tmpfs). When a new replica's RAM file does not fit, replicas that nothing uses (no VM, no
// derived template, no pool) are evicted, least recently used first; if it still does not fit, the
// copy is refused with the need and the free space. Templates prepared here are never evicted:
// only copies made by replication carry the replica mark. A fork under way keeps its template.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { db } from '../db';
import { Engine } from '../engine';
import { paths } from '../engine/paths';

/** A file in a replica's template folder: where it came from (written before its row, removed with the folder). */
export const REPLICA_MARK = 'replica-of';
/** Words of the refusal that the console recognises in a failed job (it then stops retrying). */
export const NO_ROOM = 'has no room for template';

const MiB = 1024 * 1024;
const mib = (n: number) => Math.floor(n / MiB);

export interface EvictionCandidate {
  id: string;
  name: string;
  bytes: number;
  /** ms since the epoch of its last fork (or of its copy) */
  lastUsed: number;
}

/** Which candidates to evict, least recently used first, so that `need` bytes fit in `free`; null when all of them would not be enough. */
export function planEviction(need: number, free: number, candidates: EvictionCandidate[]): EvictionCandidate[] | null {
  const out: EvictionCandidate[] = [];
  let room = free;
  for (const c of [...candidates].sort((a, b) => a.lastUsed - b.lastUsed || a.id.localeCompare(b.id))) {
    if (need <= room) break;
    out.push(c);
    room += c.bytes;
  }
  return need <= room ? out : null;
}

function size(f: string): number {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

/** Bytes free for template RAM here: the tmpfs's free space, capped by INSTACLONE_TEMPLATE_STORE_MIB less the RAM files it holds. */
export function templateRoom(): { free: number; used: number; cap?: number } {
  const dir = path.join(config().run, 'templates');
  const st = fs.statfsSync(config().run);
  const fsFree = st.bavail * st.bsize;
  const used = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).reduce((n, id) => n + size(path.join(dir, id, 'ram')), 0);
  const cap = config().cluster.templateStoreBytes;
  return { free: cap === undefined ? fsFree : Math.max(0, Math.min(fsFree, cap - used)), used, cap };
}

/** Frozen replicas here that nothing uses, with their size and when they were last forked. */
export async function unusedReplicas(): Promise<EvictionCandidate[]> {
  const tpls = await db().template.findMany({ where: { state: 'frozen' }, select: { id: true, name: true, ramPath: true, frozenAt: true, createdAt: true } });
  const out: EvictionCandidate[] = [];
  for (const t of tpls) {
    if (!fs.existsSync(path.join(paths.templateHomeDir(t.id), REPLICA_MARK))) continue;
    const [vms, derived, pools, forking] = await Promise.all([
      db().vm.count({ where: { templateId: t.id } }),
      db().template.count({ where: { parentId: t.id } }),
      db().pool.count({ where: { templateId: t.id } }),
      db().forkRequest.count({ where: { templateId: t.id, state: 'running' } }), // its children may not have rows yet
    ]);
    if (vms || derived || pools || forking) continue;
    const fork = await db().forkRequest.findFirst({ where: { templateId: t.id }, orderBy: { createdAt: 'desc' }, select: { createdAt: true } });
    const lastUsed = Math.max((t.frozenAt ?? t.createdAt).getTime(), fork?.createdAt.getTime() ?? 0);
    out.push({ id: t.id, name: t.name, bytes: size(t.ramPath), lastUsed });
  }
  return out;
}

/**
 * Makes room for a RAM file of `need` bytes (template `name` on host `host`): evicts unused replicas
 * (LRU first) as needed, or throws the refusal. Returns the names evicted.
 */
export async function makeRoom(need: number, name: string, host: string): Promise<string[]> {
  const room = templateRoom();
  if (need <= room.free) return [];
  const candidates = await unusedReplicas();
  const plan = planEviction(need, room.free, candidates);
  if (!plan) {
    const capText = room.cap === undefined ? `its tmpfs ${config().run}` : `INSTACLONE_TEMPLATE_STORE_MIB=${mib(room.cap)} of which templates use ${mib(room.used)} MiB`;
    const could = candidates.reduce((n, c) => n + c.bytes, 0);
    throw new Error(
      `Host "${host}" ${NO_ROOM} "${name}": it needs ${mib(need)} MiB of template storage and has ${mib(room.free)} MiB free (${capText})` +
        `${could ? `, ${mib(could)} MiB more if every unused replica went` : ', and no unused replica to evict'}; remove VMs or templates there, or pick another host.`,
    );
  }
  for (const c of plan) await Engine.get().remove(c.id, { actor: 'replica-eviction' }); // refused (and retried) if a fork took it meanwhile
  return plan.map((c) => c.name);
}
