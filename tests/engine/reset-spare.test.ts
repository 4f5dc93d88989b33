// Background work after forks and resets, against real QEMU (TCG, tiny image): a used prelaunched
// slot is topped up (lib/engine/topup.ts); reset from the template's spare VMM (lib/engine/spare.ts):
// the first reset makes the spare, the next one swaps it in (no QEMU start, no checkpoint load)
// with the child's own name, MAC, IP, machine-id, ports and serial log; a dead spare falls back to
// a fresh VMM; a console crash leaves no spare behind and adopts the child; no room for a child, no
// spare (admission); deleting the template kills its spare. At most 2 guests run at once.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeftovers, qemuPids, runEntries, setupEnv, startEngine, teardownEnv } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('spare');
fs.chmodSync(path.dirname(env.home), 0o711);
type EngineMod = typeof import('../../lib/engine');
let E: InstanceType<EngineMod['Engine']>;
let db: typeof import('../../lib/db').db;

const sh = (vm: string, cmd: string) => E.exec(vm, execSchema.parse({ command: ['/bin/sh', '-c', cmd], timeoutMs: 20_000 }));
type ResetOut = { state: string; fromSpare: boolean; timings: { totalMs: number; spawnMs: number; loadMs: number } };

/** What a console crash leaves: every QEMU running, the engine's sockets closed, nothing cleaned up. */
function crash(e: typeof E) {
  type Handle = { expectExit?: boolean; qmp: { close(): void }; agent?: { close(): void }; identity?: { close(): void } };
  const x = e as unknown as { poller: NodeJS.Timeout | null; poolsSvc: { stop(): void }; core: { vmms: Map<string, Handle> } };
  if (x.poller) clearInterval(x.poller);
  x.poolsSvc.stop();
  for (const h of x.core.vmms.values()) {
    h.expectExit = true;
    h.agent?.close();
    h.identity?.close();
    h.qmp.close();
  }
  x.core.vmms.clear();
  (e.constructor as EngineMod['Engine']).reset();
}

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });

beforeAll(async () => {
  ({ E, db } = await startEngine());
});

afterAll(async () => {
  expect(await teardownEnv(env), 'QEMU left running after the engine shut down').toEqual([]);
});

describe('reset from a spare VMM (real QEMU)', () => {
  let child: { id: string; name: string; identity: { mac: string; ip: string; machineId: string; vmgenid: string } };

  it('a first reset makes the template its spare; the next reset swaps the spare in', async () => {
    await E.prepare(prepareSchema.parse({ name: 'sp', slots: 1, prelaunch: true })); // the tiny image serves port 80 itself
    const slot0 = (await db().slot.findMany())[0];
    const f = await E.fork('sp', forkSchema.parse({ count: 1 }));
    expect(f.details?.[0].source).toBe('prelaunched');
    child = f.children[0];
    // the used slot is replaced in the background by a new prelaunched one (topup.ts)
    await E.settled();
    const slots = await db().slot.findMany();
    expect(slots.map((s) => [s.prelaunched, s.id === slot0.id])).toEqual([[true, false]]);
    await expectNoLeftovers(env, E, db, { homes: true });
    const first = (await E.reset(child.name)) as ResetOut;
    expect(first.fromSpare).toBe(false);
    expect(first.timings.spawnMs).toBeGreaterThan(0);
    expect(await E.spareReady('sp', 120_000)).toBe(true);
    await expectNoLeftovers(env, E, db, { homes: true });

    await sh(child.name, 'echo gone > /tmp/mark && echo gone > /data/mark && sync && echo before-reset > /dev/console');
    const vmBefore = await db().vm.findUniqueOrThrow({ where: { id: child.id } });
    const sparePid = E.spares()[0].pid;
    const r = (await E.reset(child.name)) as ResetOut;
    expect(r).toMatchObject({ state: 'running', fromSpare: true });
    expect(r.timings).toMatchObject({ spawnMs: 0, loadMs: 0 });
    console.log(`reset: fresh VMM ${first.timings.totalMs} ms, from the spare ${r.timings.totalMs} ms`);
    const vm = await db().vm.findUniqueOrThrow({ where: { id: child.id } });
    expect(vm.pid).toBe(sparePid);
    // same identity but the vmgenid, read back from inside
    const id = JSON.parse(vm.identity!);
    expect(id).toMatchObject({ hostname: child.name, mac: child.identity.mac, ip: child.identity.ip, machineId: child.identity.machineId });
    expect(id.vmgenid).not.toBe(vmBefore.vmgenid);
    expect((await sh(child.name, 'hostname; cat /etc/machine-id; ls /tmp/mark /data/mark 2>&1; true')).stdout).toMatch(new RegExp(`^${child.name}\\n${child.identity.machineId}\\n[\\s\\S]*No such file[\\s\\S]*No such file`));
    // the same host ports, forwarded by the spare's QEMU to the child's guest port
    expect(vm.ports).toBe(vmBefore.ports);
    const ports = JSON.parse(vm.ports!) as Record<string, number>;
    expect(await connects(ports['80'])).toBe(true);
    // the serial log goes on in the same file: the line from before the reset is still there
    const log = fs.readFileSync(path.join(env.home, 'vms', child.id, 'serial.log'), 'utf8');
    expect(log).toContain('before-reset');
    // and a new spare is on its way
    expect(await E.spareReady('sp', 120_000)).toBe(true);
    expect(E.spares()[0].pid).not.toBe(sparePid);
    await expectNoLeftovers(env, E, db, { homes: true });
  });

  it('a dead spare is not used: the reset starts a fresh VMM', async () => {
    const spare = E.spares()[0];
    process.kill(spare.pid, 'SIGKILL');
    for (let i = 0; i < 100 && E.spares().length; i++) await new Promise((r) => setTimeout(r, 50));
    const r = (await E.reset(child.name)) as ResetOut;
    expect(r).toMatchObject({ state: 'running', fromSpare: false });
    expect((await sh(child.name, 'hostname')).stdout).toBe(`${child.name}\n`);
    expect(await E.spareReady('sp', 120_000)).toBe(true);
    await expectNoLeftovers(env, E, db, { homes: true });
  });

  it('a console crash leaves no spare QEMU (the child and the slot are adopted); a spare is admitted like a child: no room, no spare', async () => {
    // every QEMU of the template (child, slot, spare) runs the template's device profile: the tiny
    // image's lean one where it is proven (QEMU 7), else standard
    const { leanDevicesProven, qemuVersion } = await import('../../lib/engine/qemu-version');
    const lean = leanDevicesProven(qemuVersion());
    const tpl = await db().template.findFirstOrThrow({ where: { name: 'sp' } });
    expect(JSON.parse(tpl.config).devices).toBe(lean ? 'lean' : undefined);
    for (const pid of qemuPids(env.run)) expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(lean ? 'pc,hpet=off,vmport=off,i8042=off' : 'pc');
    const spare = E.spares()[0];
    expect(spare).toBeDefined();
    // admission measures every QEMU under the run dir: the spare's memory is in what VMs use
    const { measureUsage, processMemory } = await import('../../lib/engine/admission');
    const vm = await db().vm.findUniqueOrThrow({ where: { id: child.id } });
    expect((await measureUsage()).vmMemoryMiB).toBeGreaterThanOrEqual(processMemory(spare.pid)!.anonymousMiB + processMemory(vm.pid!)!.anonymousMiB);

    // the console dies without a shutdown: QEMUs keep running, its sockets close, nothing is cleaned
    crash(E);
    const { Engine } = await import('../../lib/engine');
    E = Engine.get();
    const report = await E.start();
    expect(report.adopted).toEqual([child.id]);
    expect(report.cleaned).toContain(`pid ${spare.pid}`);
    expect(qemuPids(env.run)).not.toContain(spare.pid);
    expect(E.spares()).toEqual([]);
    await expectNoLeftovers(env, E, db, { homes: true });
    expect((await sh(child.name, 'hostname')).stdout).toBe(`${child.name}\n`);

    // no room for another child on this host (the limits keep 10 TiB free for the host): no spare is made
    const { setLimits, resetLimits } = await import('../../lib/engine/limits');
    await setLimits({ minFreeMemoryMiB: 10 * 2 ** 20 });
    try {
      expect(await E.reset(child.name)).toMatchObject({ state: 'running', fromSpare: false });
      expect(await E.spareReady('sp', 60_000)).toBe(false);
      expect(E.spares()).toEqual([]);
      expect(await db().event.count({ where: { message: { contains: 'refused' } } })).toBe(0); // the engine's own work: no refusal logged
    } finally {
      await resetLimits();
    }
    await E.reset(child.name);
    expect(await E.spareReady('sp', 120_000)).toBe(true);
    await expectNoLeftovers(env, E, db, { homes: true });
  });

  it('deleting the template kills its spare', async () => {
    await E.remove('sp', { force: true });
    expect(E.spares()).toEqual([]);
    expect(qemuPids(env.run)).toEqual([]);
    expect(runEntries(env)).toEqual([]);
  });
});
