// INSTACLONE_KSM against real QEMU (TCG, tiny image; root, a kernel with KSM and prctl kept across
// exec, Linux ≥ 6.7): with `on` the engine starts ksmd, every child's QEMU is mergeable as a whole
// (spawned through the prctl wrapper, yet its pid and command line are QEMU's), children still fork
// with distinct identities and keep working once ksmd has merged their pages; with `off` the guest
// RAM is not even madvised mergeable; INSTACLONE_QEMU_THP=off keeps transparent huge pages away. The host's ksmd is put back as it was. At most 2 guests at once.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeftovers, setupEnv, startEngine, teardownEnv, waitFor } from './engine-env';
import { need, when } from '../strict';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';
import { KSM_DIR, ksmStatus, readKsm, wholeProcessSupport } from '../../lib/engine/ksm';

const canKsm = process.getuid?.() === 0 && readKsm() !== null && wholeProcessSupport().ok;
const env = setupEnv('ksm');
fs.chmodSync(path.dirname(env.home), 0o711);
const runBefore = readKsm()?.run;
process.env.INSTACLONE_KSM = 'on';
process.env.INSTACLONE_QEMU_THP = 'on'; // QEMU's own (auto turns huge pages off under TCG): checked against off below

type EngineT = import('../../lib/engine').Engine;
let E: EngineT;
let db: typeof import('../../lib/db').db;

const stat = (pid: number) => fs.readFileSync(`/proc/${pid}/ksm_stat`, 'utf8');
const merging = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/ksm_merging_pages`, 'utf8').trim());
/** VmFlags of the mapping of `file` in `pid` ("mg" = madvised mergeable) */
const flagsOf = (pid: number, file: string) => {
  const lines = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.includes(file));
  return lines.slice(at).find((l) => l.startsWith('VmFlags:'))!.split(/\s+/).slice(1);
};
const thpEnabled = (pid: number) => /^THP_enabled:\s+(\d)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
const anonHugeKiB = (pid: number) => Number(/^AnonHugePages:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]);
const pidOf = async (id: string) => (await E.list()).vms.find((v) => v.id === id)!.pid!;

beforeAll(async () => {
  if (!canKsm) return;
  ({ E, db } = await startEngine());
}, 120_000);

afterAll(async () => {
  delete process.env.INSTACLONE_KSM;
  delete process.env.INSTACLONE_QEMU_THP;
  const left = await teardownEnv(env);
  if (canKsm && runBefore !== 1) {
    fs.writeFileSync(path.join(KSM_DIR, 'run'), '2'); // unmerge what this test merged, then stop ksmd as it was
    fs.writeFileSync(path.join(KSM_DIR, 'run'), String(runBefore ?? 0));
  }
  expect(left, 'QEMU left running after the engine shut down').toEqual([]);
});

describe.runIf(when(canKsm))('KSM (real QEMU)', () => {
  it('on: ksmd runs, children are wholly mergeable, fork with distinct identities and work once merged', async () => {
    need(canKsm, 'KSM needs root, /sys/kernel/mm/ksm and a kernel that keeps PR_SET_MEMORY_MERGE across exec (Linux ≥ 6.7), with /usr/bin/perl');
    expect(readKsm()!.run).toBe(1);
    const tpl = await E.prepare(prepareSchema.parse({ image: 'tiny', name: 'k', memory: 256 }));
    const f = await E.fork(tpl.id, forkSchema.parse({ count: 2 }));
    expect(f.children).toHaveLength(2);
    const [a, b] = f.children;
    for (const k of ['hostname', 'mac', 'ip', 'machineId', 'vmgenid'] as const) expect(a.identity[k], k).not.toBe(b.identity[k]);
    const pids = [await pidOf(a.id), await pidOf(b.id)];
    const ram = (await db().template.findUniqueOrThrow({ where: { id: tpl.id } })).ramPath;
    for (const pid of pids) {
      expect(flagsOf(pid, ram)).toContain('mg'); // QEMU's own madvise of guest RAM (mem-merge)
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/qemu-system/); // the wrapper exec'd QEMU in place
      expect(stat(pid)).toMatch(/ksm_merge_any: yes/);
    }
    const thpHost = fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    if (!/\[never\]/.test(thpHost)) expect(anonHugeKiB(pids[0])).toBeGreaterThan(0); // QEMU's TCG buffer asks for huge pages
    const h = ksmStatus();
    expect(h).toMatchObject({ mode: 'on', running: true, wholeProcess: true });
    expect(h.reason).toBeUndefined();
    // ksmd merges identical pages of the two children (a bound, not a timing assert)
    await waitFor('ksmd to merge pages of the children', async () => pids.every((p) => merging(p) > 0), 240_000);
    expect(ksmStatus().savedBytes).toBeGreaterThan(0);
    // merged pages are copied again on write: both guests still run and answer as themselves
    for (const c of [a, b]) {
      const r = await E.exec(c.name, execSchema.parse({ command: ['/bin/sh', '-c', 'hostname; cat /etc/machine-id; dd if=/dev/zero of=/tmp/z bs=1M count=8 2>/dev/null; echo ok'], timeoutMs: 60_000 }));
      expect(r.stdout.split('\n').slice(0, 3)).toEqual([c.identity.hostname, c.identity.machineId, 'ok']);
    }
    for (const c of f.children) await E.remove(c.id, { force: true });
    await expectNoLeftovers(env, E, db, { homes: true });

    // off: the child's guest RAM is not madvised mergeable and the process is not wholly mergeable;
    // with INSTACLONE_QEMU_THP=off its QEMU holds no transparent huge page (its TCG buffer asks for them)
    process.env.INSTACLONE_KSM = 'off';
    process.env.INSTACLONE_QEMU_THP = 'off';
    const g = await E.fork(tpl.id, forkSchema.parse({ count: 1 }));
    process.env.INSTACLONE_QEMU_THP = 'on';
    const pid = await pidOf(g.children[0].id);
    expect(stat(pid)).toMatch(/ksm_merge_any: no/);
    expect(flagsOf(pid, ram)).not.toContain('mg');
    expect(thpEnabled(pid)).toBe('0');
    expect(anonHugeKiB(pid)).toBe(0);
    const r = await E.exec(g.children[0].name, execSchema.parse({ command: ['/bin/sh', '-c', 'hostname'], timeoutMs: 60_000 }));
    expect(r.stdout.trim()).toBe(g.children[0].identity.hostname);
    expect(ksmStatus().reason).toMatch(/^INSTACLONE_KSM=off: VMs opt out/);
    process.env.INSTACLONE_KSM = 'on';
    await E.remove(g.children[0].id, { force: true });
    await E.remove(tpl.id, { force: true });
    await expectNoLeftovers(env, E, db, { homes: true });
  }, 900_000);
});
