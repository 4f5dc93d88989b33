// Watches QEMU processes (QMP disconnect + pid polling) and, on engine start, re-adopts what is
// still running and reconciles the database with reality.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { db } from '../db';
import { sockets } from './argv';
import type { Core } from './core';
import { rmrf } from './disks';
import { releaseNetwork } from './network';
import { isOurQemu, killQemu, qemuPidsUnder } from './process';
import { QmpClient } from './qmp';
import { IdentityChannel } from './identity-channel';
import { paths } from './paths';
import { capSerialLog } from './serial-log';
import type { Vmm } from './vmm';

/** Registers a live VMM: its QMP disconnect (QEMU exited) becomes a crash unless expected. */
export function watch(core: Core, vmm: Vmm) {
  core.vmms.set(vmm.id, vmm);
  vmm.qmp.on('disconnect', (reason: string) => {
    if (vmm.expectExit || core.vmms.get(vmm.id) !== vmm) return;
    core.vmms.delete(vmm.id);
    void markCrashed(core, vmm.id, `QEMU exited unexpectedly (${reason}).`);
  });
}

export async function markCrashed(core: Core, id: string, why: string) {
  if (core.busy.has(id)) return;
  const vm = await db().vm.findUnique({ where: { id } });
  if (vm) {
    if (vm.state === 'stopped' || vm.state === 'crashed') return;
    const lastSerial = core.lastSerial(id);
    await core.killVm(id, vm.runDir, vm.pid);
    if (!vm.persistent) await releaseNetwork(id).catch(() => undefined);
    await core.setVm(id, { state: 'crashed', pid: null, error: why, lastSerial, stoppedAt: new Date() });
    await core.event('system', 'crash', { id, name: vm.name }, 'error', why);
    return;
  }
  const slot = await db().slot.findUnique({ where: { id } });
  if (slot) {
    await core.killVm(id, slot.runDir, slot.pid);
    await db().slot.update({ where: { id }, data: { prelaunched: false, pid: null } }).catch(() => undefined);
    core.emit({ type: 'slot', id, templateId: slot.templateId, state: 'registered' }); // no VMM waits in it now
  }
}

/** Polls pids as a second line of defence (a QMP socket can linger briefly). */
export function startPolling(core: Core): NodeJS.Timeout {
  const t = setInterval(() => {
    for (const [id, v] of core.vmms) {
      try {
        capSerialLog(paths.vmSerialLog(id));
      } catch {
        /* next round */
      }
      if (v.expectExit || core.busy.has(id)) continue;
      if (!isOurQemu(v.pid, v.runDir)) {
        core.vmms.delete(id);
        v.qmp.close();
        void markCrashed(core, id, 'QEMU process is gone.');
      }
    }
  }, 1000);
  t.unref();
  return t;
}

async function tryAdopt(core: Core, id: string, runDir: string, pid: number | null): Promise<Vmm | null> {
  if (!pid || !isOurQemu(pid, runDir)) return null;
  try {
    const qmp = await QmpClient.connect(sockets(runDir).qmp, { timeoutMs: 3000 });
    // the identity port (when the VM has one): reconnect, so its guest helper blocks in read()
    // again instead of backing off on EOF, and an adopted prelaunched slot can use the channel
    const sk = sockets(runDir).identity;
    const identity = fs.existsSync(sk) ? await IdentityChannel.connect(sk, 1000).catch(() => undefined) : undefined;
    return { id, pid, runDir, qmp, identity };
  } catch {
    return null;
  }
}

/**
 * Engine start: adopt running VMs and prelaunched slots, mark dead ones crashed (keeping their last
 * serial lines), clean up half-made forks and prepares, kill QEMUs nobody owns.
 */
export async function reconcile(core: Core): Promise<{ adopted: string[]; crashed: string[]; cleaned: string[] }> {
  const adopted: string[] = [];
  const crashed: string[] = [];
  const cleaned: string[] = [];
  const d = db();

  // templates caught mid-prepare: their parent never froze; drop everything.
  for (const t of await d.template.findMany({ where: { state: { in: ['preparing', 'deleting'] } } })) {
    for (const v of await d.vm.findMany({ where: { templateId: t.id, kind: 'parent' } })) {
      await core.destroyVm(v.id, v.runDir, v.pid);
      cleaned.push(v.id);
    }
    for (const s of await d.slot.findMany({ where: { templateId: t.id } })) {
      await core.killVm(s.id, s.runDir, s.pid);
      await releaseNetwork(s.id).catch(() => undefined);
    }
    await d.slot.deleteMany({ where: { templateId: t.id } });
    rmrf(paths.templateRunDir(t.id));
    rmrf(paths.templateHomeDir(t.id));
    await d.template.delete({ where: { id: t.id } }).catch(() => undefined);
    core.emit({ type: 'template', id: t.id, state: 'removed' });
  }

  for (const v of await d.vm.findMany({ where: { state: { in: ['starting', 'running'] } } })) {
    if (v.state === 'starting' || v.kind === 'parent') {
      // a fork (or prepare) was interrupted before this child was verified: clean it up
      await core.destroyVm(v.id, v.runDir, v.pid);
      cleaned.push(v.id);
      continue;
    }
    const vmm = await tryAdopt(core, v.id, v.runDir, v.pid);
    if (vmm) {
      const st = await vmm.qmp.execute<{ status: string }>('query-status').catch(() => ({ status: 'unknown' }));
      if (st.status === 'running') {
        watch(core, vmm);
        adopted.push(v.id);
        continue;
      }
      vmm.qmp.close();
    }
    const lastSerial = core.lastSerial(v.id);
    await core.killVm(v.id, v.runDir, v.pid);
    if (!v.persistent) await releaseNetwork(v.id).catch(() => undefined);
    await core.setVm(v.id, { state: 'crashed', pid: null, lastSerial, error: 'QEMU was not running when the engine started.', stoppedAt: new Date() });
    crashed.push(v.id);
  }

  for (const s of await d.slot.findMany({ where: { prelaunched: true } })) {
    const vmm = await tryAdopt(core, s.id, s.runDir, s.pid);
    if (vmm) {
      const st = await vmm.qmp.execute<{ status: string }>('query-status').catch(() => ({ status: 'unknown' }));
      if (st.status === 'inmigrate') {
        watch(core, vmm);
        continue;
      }
      vmm.qmp.close();
    }
    await core.killVm(s.id, s.runDir, s.pid);
    await d.slot.delete({ where: { id: s.id } }).catch(() => undefined);
    await releaseNetwork(s.id).catch(() => undefined);
    core.emit({ type: 'slot', id: s.id, templateId: s.templateId, state: 'removed' });
  }

  // QEMUs under our run dir that the database does not know (spawned just before a crash)
  const known = new Set<number>();
  for (const v of await d.vm.findMany({ where: { pid: { not: null } } })) if (v.pid) known.add(v.pid);
  for (const s of await d.slot.findMany({ where: { pid: { not: null } } })) if (s.pid) known.add(s.pid);
  const run = config().run;
  for (const pid of qemuPidsUnder(run)) {
    if (known.has(pid)) continue;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const m = cmd.match(new RegExp(`${escapeRe(path.join(run, 'vms'))}/([^/\\0]+)/`));
    await killQemu(pid, m ? path.join(run, 'vms', m[1]) : run);
    cleaned.push(`pid ${pid}`);
  }
  // run dirs nobody owns
  const ownedDirs = new Set<string>();
  for (const v of await d.vm.findMany()) ownedDirs.add(path.basename(v.runDir));
  for (const s of await d.slot.findMany()) ownedDirs.add(path.basename(s.runDir));
  const vmsRun = path.join(run, 'vms');
  if (fs.existsSync(vmsRun)) {
    for (const e of fs.readdirSync(vmsRun)) {
      if (!ownedDirs.has(e)) {
        rmrf(path.join(vmsRun, e));
        rmrf(paths.vmHomeDir(e));
        await releaseNetwork(e).catch(() => undefined);
      }
    }
  }
  return { adopted, crashed, cleaned };
}

function escapeRe(s: string) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
