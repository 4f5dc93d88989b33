// Issue 15's pure pieces: reading QEMU's host forwards, the one-sentence exec error, the port list
// as typed, and the lineage graph's layout with hundreds of children.
import { describe, expect, it } from 'vitest';
import { assertForwards, parseUsernet } from '../../lib/engine/forwards';
import { AgentError } from '../../lib/engine/agent';
import { execStartError } from '../../lib/engine/vm';
import { parsePorts } from '../../lib/client/ports';
import { layoutLineage } from '../../components/lineage/lineage-graph';
import { forkSchema, prepareSchema } from '../../lib/validations';
import { allocateNetwork, memoryNetworkStore, releaseNetwork, setNetworkStore } from '../../lib/engine/network';
import net from 'node:net';
import type { LineageNode } from '../../lib/client/lineage';

const USERNET = 'Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]  14       127.0.0.1 45125        10.1.0.5  8080     0     0\r\n  TCP[HOST_FORWARD]   9       127.0.0.1 45123        10.1.0.5    80     0     0\r\n  TCP[ESTABLISHED]   22       10.1.0.5   80       10.0.2.2 51234     0     0\r\n';

describe('host forwards', () => {
  it('parses the TCP host forwards of `info usernet` (QEMU 7.2 format), nothing else', () => {
    expect(parseUsernet(USERNET)).toEqual({ 80: 45123, 8080: 45125 });
    expect(parseUsernet('')).toEqual({});
  });
  it('refuses to record ports QEMU does not forward', () => {
    expect(() => assertForwards('a-1', { 80: 1 }, { 80: 1 })).not.toThrow();
    expect(() => assertForwards('a-1', { 80: 1 }, { 80: 2 })).toThrow(/QEMU forwards .* for a-1, not the planned/);
  });
});

describe('guest ports as input', () => {
  it('parses what an operator types, and the shared schema judges it', () => {
    expect(parsePorts('80, 8080 22')).toEqual([80, 8080, 22]);
    expect(prepareSchema.parse({ name: 'x' }).ports).toEqual([80, 22]);
    expect(forkSchema.safeParse({ count: 1, ports: parsePorts('80,80') }).error?.issues[0].message).toBe('Each guest port may be listed only once.');
    expect(forkSchema.safeParse({ count: 1, ports: parsePorts('http') }).success).toBe(false);
    expect(forkSchema.safeParse({ count: 1, ports: [65536] }).error?.issues[0].message).toBe('A guest port must be at most 65535.');
  });
});

describe('exec start errors', () => {
  it('a missing program becomes one sentence saying what to do (422, not 500)', () => {
    const e = execStartError('nosuch', new AgentError('guest-exec', 'GenericError', 'Failed to execute child process “nosuch” (No such file or directory)')) as Error & { code: string };
    expect(e.code).toBe('invalid');
    expect(e.message).toBe('The guest could not start "nosuch" (no such file or directory): check its name, or give its full path (busybox applets: /bin/busybox NAME).');
    // qemu-ga 7.2 wraps the reason in its own words and quotes
    const wrapped = execStartError('nosuch', new AgentError('guest-exec', 'GenericError', "Guest agent command failed, error was 'Failed to execute child process “nosuch” (No such file or directory)'")) as Error;
    expect(wrapped.message).toMatch(/^The guest could not start "nosuch" \(no such file or directory\): /);
    const other = new Error('socket closed');
    expect(execStartError('x', other)).toBe(other);
  });
});

describe('lineage graph layout', () => {
  it('places a template and 500 children at distinct finite points inside the unit circle', () => {
    const kids: LineageNode[] = Array.from({ length: 500 }, (_, i) => ({ kind: 'vm', id: `v${i}`, name: `c-${i}`, state: i === 7 ? 'crashed' : 'running', vm: {} as never, children: [] }));
    const tpl = { kind: 'template', id: 't', name: 't', state: 'frozen', template: {} as never, children: kids, counts: {}, vmCount: 500, sharedBytes: 0, privateBytes: 0 } as LineageNode;
    const { nodes, links } = layoutLineage([tpl]);
    expect(nodes).toHaveLength(501);
    expect(links).toHaveLength(500);
    const keys = new Set(nodes.map((n) => `${n.x.toFixed(4)},${n.y.toFixed(4)}`));
    expect(keys.size).toBe(501);
    for (const n of nodes) expect(Math.hypot(n.x, n.y)).toBeLessThanOrEqual(1.0001);
    expect(nodes.find((n) => n.id === 't')).toMatchObject({ x: 0, y: 0, kind: 'template' });
    expect(nodes.find((n) => n.name === 'c-7')?.state).toBe('crashed');
  });
});

describe('host ports are kept for the same VM', () => {
  it('a second allocation (reset, a slot forked) keeps the ports; ports its own QEMU holds are taken as bound', async () => {
    setNetworkStore(memoryNetworkStore());
    process.env.INSTACLONE_PORT_RANGE = '39000-39999';
    try {
      const a = await allocateNetwork('keep1', { forwardPorts: [80, 8080] });
      const again = await allocateNetwork('keep1', { forwardPorts: [80, 8080] });
      expect(again.hostPorts).toEqual(a.hostPorts);
      // after a restart the process holds nothing, but the VM's QEMU still listens on its port
      await releaseNetwork('keep1');
      const busy = net.createServer();
      await new Promise<void>((r) => busy.listen(a.hostPorts[80], '127.0.0.1', () => r()));
      try {
        const bound = await allocateNetwork('keep2', { forwardPorts: [80], reuse: { ports: { 80: a.hostPorts[80] }, bound: true } });
        expect(bound.hostPorts[80]).toBe(a.hostPorts[80]);
        // without `bound`, a port someone else listens on is not reused
        const other = await allocateNetwork('keep3', { forwardPorts: [80], reuse: { ports: { 80: a.hostPorts[80] } } });
        expect(other.hostPorts[80]).not.toBe(a.hostPorts[80]);
      } finally {
        busy.close();
      }
    } finally {
      for (const id of ['keep1', 'keep2', 'keep3']) await releaseNetwork(id);
      setNetworkStore(null);
      delete process.env.INSTACLONE_PORT_RANGE;
    }
  });
});
