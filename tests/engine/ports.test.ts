// Issue 15 item 1-2: the host ports a child shows are the ones QEMU forwards, proven by connecting
// to them: children from prelaunched slots, a fork that overrides the template's ports (the slot's
// QEMU is re-pointed live), a fresh VMM, and a reset (same ports again, still answering).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPids, setupEnv, teardownEnv, testAdmin } from './engine-env';
import { execSchema, forkSchema, prepareSchema } from '../../lib/validations';

const env = setupEnv('ports');
type EngineMod = typeof import('../../lib/engine');
// the cases count on the template's two prelaunched slots being used up (then a fresh VMM): no top-up
process.env.INSTACLONE_SLOT_TOPUP = '0';
let E: InstanceType<EngineMod['Engine']>;
let forwardedPorts: typeof import('../../lib/engine/forwards').forwardedPorts;

/** An HTTP GET over the forwarded port (the tiny image's httpd): the child's page, or throws. */
async function page(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
  return res.text();
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function vm(name: string) {
  return (await E.get(name)) as { id: string; ports: Record<string, number>; pid: number };
}

/** The VM's recorded ports equal what its QEMU forwards (asked over QMP), and every one answers HTTP with its hostname. */
async function expectPortsWork(name: string, guestPorts: string[], served = guestPorts) {
  const v = await vm(name);
  expect(Object.keys(v.ports).sort()).toEqual([...guestPorts].sort());
  const vmm = (E as any).core.vmms.get(v.id);
  expect(await forwardedPorts(vmm.qmp)).toEqual(Object.fromEntries(Object.entries(v.ports).map(([g, h]) => [Number(g), h])));
  for (const gp of served) expect(await page(v.ports[gp]), `${name} guest port ${gp}`).toContain(`hostname: ${name}\n`);
  // a port without a server in the guest is still forwarded: QEMU accepts on it
  for (const gp of guestPorts) expect(await listening(v.ports[gp]), `${name} guest port ${gp}`).toBe(true);
  const ls = (await E.list()) as { vms: { name: string; ports: Record<string, number> }[] };
  expect(ls.vms.find((x) => x.name === name)?.ports).toEqual(v.ports);
  return v.ports;
}

beforeAll(async () => {
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  forwardedPorts = (await import('../../lib/engine/forwards')).forwardedPorts;
  const { Engine } = await import('../../lib/engine');
  E = Engine.get();
  await E.start();
  // the wizard's own example: a second web server on 8080, forwarded with 80
  await E.prepare(prepareSchema.parse({ name: 'pt', warmup: ['httpd -p 8080 -h /www'], ports: [80, 8080], slots: 2, prelaunch: true, network: 'outbound' })); // outbound: the wget check reaches a host service through 10.0.2.2
});

afterAll(async () => {
  await teardownEnv(env);
  expect(qemuPids(env.run)).toEqual([]);
});

describe('forwarded ports (real QEMU)', () => {
  it('a child from a prelaunched slot shows the ports QEMU forwards, and they answer', async () => {
    const r = await E.fork('pt', forkSchema.parse({ count: 1, prefix: 'a' }));
    expect(r.details?.[0].source).toBe('prelaunched');
    await expectPortsWork('a-1', ['80', '8080']);
  });

  it('a fork may override the template ports: the prelaunched slot is re-pointed live', async () => {
    const r = await E.fork('pt', forkSchema.parse({ count: 1, prefix: 'b', ports: [8080, 22] }));
    expect(r.details?.[0].source).toBe('prelaunched');
    // (22 has no server in the tiny guest: it is checked as forwarded, not served)
    await expectPortsWork('b-1', ['22', '8080'], ['8080']);
  });

  it('a child from a fresh VMM forwards the template ports', async () => {
    const r = await E.fork('pt', forkSchema.parse({ count: 1, prefix: 'c' }));
    expect(r.details?.[0].source).toBe('fresh');
    await expectPortsWork('c-1', ['80', '8080']);
  });

  it('a reset keeps the same host ports, and they answer again', async () => {
    const before = (await vm('a-1')).ports;
    const oldPid = (await vm('a-1')).pid;
    await E.reset('a-1');
    const after = await expectPortsWork('a-1', ['80', '8080']);
    expect((await vm('a-1')).pid).not.toBe(oldPid);
    expect(after).toEqual(before);
  });

  it("the guest's wget reaches a host service (10.0.2.2) without crashing, -T included (issue 15 item 9)", async () => {
    const http = await import('node:http');
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":');
      setTimeout(() => res.end('"ok"}'), 20); // chunked, like the console's /api/health
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const net = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = net.createServer((s) => void held.push(s)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const port = (srv.address() as import('node:net').AddressInfo).port;
      const r = await E.exec('a-1', execSchema.parse({ command: ['/bin/sh', '-c', `wget -O- http://10.0.2.2:${port}/api/health 2>&1`], timeoutMs: 30_000 }));
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('{"status":"ok"}');
      // -T is what crashed Debian's busybox wget (exit 139 for any address): each spelling works as
      // the exec box and `instaclone exec` run it (argv through the agent, no shell)
      for (const t of [['-T', '20'], ['-T20'], ['--timeout=20'], ['--timeout', '20']]) {
        const w = await E.exec('a-1', execSchema.parse({ command: ['wget', ...t, '-q', '-O-', `http://10.0.2.2:${port}/api/health`], timeoutMs: 60_000 }));
        expect(w.exitCode, `${t.join(' ')}: ${w.stdout}${w.stderr}`).toBe(0);
        expect(w.stdout).toContain('{"status":"ok"}');
      }
      // a login shell (the serial console) gets the same wget
      const login = await E.exec('a-1', execSchema.parse({ command: ['/bin/sh', '-l', '-c', `wget -T 20 -q -O- http://10.0.2.2:${port}/api/health`], timeoutMs: 60_000 }));
      expect(login.exitCode, login.stdout + login.stderr).toBe(0);
      // and gives up on a server that accepts but never answers, with a sentence instead of a hang
      const stuck = await E.exec('a-1', execSchema.parse({ command: ['wget', '-T', '2', '-q', '-O-', `http://10.0.2.2:${silentPort}/`], timeoutMs: 60_000 }));
      expect(stuck.exitCode, stuck.stdout + stuck.stderr).toBe(1);
      expect(stuck.stdout + stuck.stderr).toMatch(/timed out after 2 s/);
    } finally {
      srv.close();
      silent.close();
      for (const s of held) s.destroy();
    }
  });

  it('bad port lists are refused with one sentence, nothing launched', async () => {
    await E.settled(); // the earlier forks' slot top-ups have landed
    const pids = qemuPids(env.run).length;
    const { forkTemplate } = await import('../../lib/services/templates'); // the door that parses raw input
    await expect(forkTemplate(testAdmin, { ref: 'pt', count: 1, ports: [0] })).rejects.toThrow(/guest port must be at least 1/i);
    await expect(forkTemplate(testAdmin, { ref: 'pt', count: 1, ports: [80, 80] })).rejects.toThrow(/only once/);
    await expect(forkTemplate(testAdmin, { ref: 'pt', count: 1, ports: [70000] })).rejects.toThrow(/at most 65535/);
    expect(qemuPids(env.run).length).toBe(pids);
  });
});
