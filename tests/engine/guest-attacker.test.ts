// The guest as an attacker, from inside real tiny guests (TCG): on user-mode networking an isolated
// child cannot reach the host's loopback through 10.0.2.2 (an outbound one can, which proves the
// probe works) while its forwarded port still serves; a child flooding its serial port does not
// grow its serial log past the cap; and a QEMU that tries to start a program is killed by its sandbox.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { need, when } from '../strict';
import { qemuPids, setupEnv, teardownEnv, waitFor } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('guest-attacker');
process.env.INSTACLONE_SERIAL_LOG_MAX = String(256 * 1024);
delete process.env.INSTACLONE_NET;

let E: import('../../lib/engine').Engine;
let listener: net.Server;
let port = 0;
const seen: string[] = [];

beforeAll(async () => {
  // a "private" service on the host's loopback, like the console or a local PostgreSQL
  listener = net.createServer((c) => {
    c.on('data', (d) => seen.push(d.toString().trim()));
    c.on('error', () => undefined);
    c.end('host secret\n');
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  port = (listener.address() as net.AddressInfo).port;
  const { migrate } = await import('../../lib/db');
  await migrate();
  const { Engine } = await import('../../lib/engine');
  E = Engine.get();
  await E.start();
  await E.prepare(prepareSchema.parse({ image: 'tiny', name: 'iso' }));
  await E.prepare(prepareSchema.parse({ image: 'tiny', name: 'out', network: 'outbound' }));
  await E.fork('iso', forkSchema.parse({ count: 1, prefix: 'iso' }));
  await E.fork('out', forkSchema.parse({ count: 1, prefix: 'out' }));
}, 600_000);

afterAll(async () => {
  // the check that counts: nothing of ours may survive the engine's own shutdown
  const { Engine } = await import('../../lib/engine');
  await Engine.get().shutdown({ killAll: true }).catch(() => undefined);
  const left = qemuPids(env.run);
  await teardownEnv(env);
  listener?.close();
  delete process.env.INSTACLONE_SERIAL_LOG_MAX;
  expect(left).toEqual([]);
}, 120_000);

const probe = (vm: string, tag: string) =>
  E.exec(vm, execSchema.parse({ command: ['/bin/sh', '-c', `echo ${tag} | nc -w 3 10.0.2.2 ${port}; echo "rc=$?"`], timeoutMs: 30_000 }));

describe('a guest on user-mode networking', () => {
  it('cannot reach the host loopback through 10.0.2.2 when isolated (the default); outbound can', async () => {
    const iso = await probe('iso-1', 'from-isolated');
    const out = await probe('out-1', 'from-outbound');
    expect(out.stdout).toContain('host secret'); // the probe really reaches a host service when allowed
    expect(seen).toContain('from-outbound');
    expect(iso.stdout).not.toContain('host secret');
    expect(seen).not.toContain('from-isolated');
  });

  it('still serves its forwarded port when isolated', async () => {
    const vm = await E.get('iso-1');
    const hp = Number(JSON.parse(typeof vm.ports === 'string' ? vm.ports : JSON.stringify(vm.ports))['80']);
    const res = await fetch(`http://127.0.0.1:${hp}/`, { signal: AbortSignal.timeout(15_000) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('iso-1');
  });
});

describe('per-VM isolation on the host', () => {
  const isRoot = process.getuid?.() === 0;
  it.runIf(when(isRoot))('runs every QEMU under its own unprivileged uid, none as root, and each owns only its own 0700 run dir', async () => {
    need(isRoot, 'QEMU drops privileges only when the engine is root');
    const { uidPool } = await import('../../lib/engine/qemu-uids');
    const pool = uidPool();
    const { db } = await import('../../lib/db');
    const rows = [...(await db().vm.findMany({ where: { pid: { not: null } } })), ...(await db().slot.findMany({ where: { pid: { not: null } } }))];
    const pids = qemuPids(env.run);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    expect(pids.sort()).toEqual(rows.map((r) => r.pid!).sort());
    const uids: number[] = [];
    for (const r of rows) {
      const ids = fs.readFileSync(`/proc/${r.pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)![1].trim().split(/\s+/).map(Number);
      expect(new Set(ids).size, `pid ${r.pid}: real, effective, saved and fs uid`).toBe(1);
      expect(ids[0]).not.toBe(0);
      expect(ids[0]).toBeGreaterThanOrEqual(pool.base);
      expect(ids[0]).toBeLessThan(pool.base + pool.count);
      const st = fs.lstatSync(r.runDir);
      expect([st.uid, st.mode & 0o777], r.runDir).toEqual([ids[0], 0o700]);
      uids.push(ids[0]);
    }
    expect(new Set(uids).size, 'no two VMs share a uid').toBe(uids.length);
  });
});

describe('file modes', () => {
  it('a child\'s overlay, serial log and pidfile are 0600 in 0700 dirs', async () => {
    const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);
    const vm = await E.get('iso-1');
    const { db } = await import('../../lib/db');
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect({
      runDir: mode(row.runDir),
      homeDir: mode(path.join(env.home, 'vms', vm.id)),
      overlay: mode(row.diskPath!),
      serialLog: mode(path.join(env.home, 'vms', vm.id, 'serial.log')),
      pidfile: mode(path.join(row.runDir, 'qemu.pid')),
    }).toEqual({ runDir: '700', homeDir: '700', overlay: '600', serialLog: '600', pidfile: '600' });
  });
});

describe('a guest flooding its serial port', () => {
  it('does not grow its serial log past the cap; the log says it was cut', async () => {
    const vm = await E.get('iso-1');
    const log = path.join(env.home, 'vms', vm.id, 'serial.log');
    await E.exec('iso-1', execSchema.parse({ command: ['/bin/sh', '-c', 'head -c 1500000 /dev/zero | tr "\\000" x > /dev/ttyS0'], timeoutMs: 120_000 }));
    // the supervisor's poll (every second) cuts it: wait for the cut, not a fixed time (a loaded host delays the poll)
    await waitFor('the serial log cut', async () => fs.existsSync(`${log}.1`), 60_000);
    expect(fs.statSync(log).size).toBeLessThan(1_500_000);
    const all = fs.readFileSync(`${log}.1`, 'utf8') + fs.readFileSync(log, 'utf8');
    expect(all).toMatch(/\[instaclone: serial log cut at \S+: it passed 0 MiB/);
  }, 180_000);
});

describe('a guest that took over its QEMU (seccomp sandbox)', () => {
  it('finds every QEMU under the full sandbox, not daemonized, with the pidfile the engine wrote', async () => {
    const { db } = await import('../../lib/db');
    const rows = [...(await db().vm.findMany({ where: { pid: { not: null } } })), ...(await db().slot.findMany({ where: { pid: { not: null } } }))];
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      const status = fs.readFileSync(`/proc/${r.pid}/status`, 'utf8');
      expect(status, `pid ${r.pid}`).toMatch(/^Seccomp:\s+2$/m); // a seccomp filter is installed
      const argv = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0');
      expect(argv).not.toContain('-daemonize');
      expect(argv[argv.indexOf('-sandbox') + 1]).toMatch(/^on,obsolete=deny,resourcecontrol=deny,spawn=deny(,elevateprivileges=deny)?$/);
      const pidfile = path.join(r.runDir, 'qemu.pid');
      const st = fs.lstatSync(pidfile);
      expect([st.isFile(), st.uid, st.mode & 0o777, fs.readFileSync(pidfile, 'utf8').trim()]).toEqual([true, process.geteuid?.(), 0o600, String(r.pid)]);
    }
  });

  it('kills a QEMU that tries to start a program, before the program runs', async () => {
    const vm = await E.vm('out-1');
    const marker = path.join(env.home, 'spawned-by-qemu');
    // the engine's own QMP connection to that QEMU (an internal: the test plays code running in QEMU)
    const h = (E as unknown as { core: { vmms: Map<string, import('../../lib/engine/vmm').Vmm> } }).core.vmms.get(vm.id)!;
    // migrate to "exec:" makes QEMU fork and exec a shell: what code running in QEMU would do
    await h.qmp.execute('migrate', { uri: `exec:touch ${marker}` }).catch(() => undefined);
    const alive = () => {
      try {
        return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${vm.pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(), 'QEMU still running').toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
  });
});
