// The stock-agent identity flow (lib/engine/identity-agent.ts) against a fake qemu-guest-agent, for
// what our real test disks cannot produce: a guest without GNU date (the clock then goes through
// guest-set-time) and a failed entropy write. The real path is covered by tests/engine/byovm.test.ts.
import { describe, expect, it } from 'vitest';
import { applyStockIdentity } from '../../lib/engine/identity-agent';
import type { AgentClient } from '../../lib/engine/agent';

const plan = { hostname: 'web-1', mac: '52:54:00:aa:bb:cc', ip: '10.1.0.2', machineId: 'a'.repeat(32), vmgenid: '00000000-0000-4000-8000-000000000001' };

/** A guest whose clock is 10 minutes behind; the script "runs" when its status is first asked. */
function fakeAgent(o: { gnuDate: boolean; entropyOk?: boolean }) {
  let guestOffsetMs = -600_000;
  const calls: { cmd: string; args: any }[] = [];
  let execArgs: any;
  const agent = {
    async call(cmd: string, args?: any) {
      calls.push({ cmd, args });
      switch (cmd) {
        case 'guest-get-time':
          return (Date.now() + guestOffsetMs) * 1e6;
        case 'guest-exec':
          execArgs = args;
          return { pid: 42 };
        case 'guest-exec-status': {
          const off = execArgs.arg.at(-1) as string;
          if (o.gnuDate) guestOffsetMs += Number(off.split(' ')[0]) * 1000;
          const out = ['iface=ens4', `hostname=${plan.hostname}`, `etchostname=${plan.hostname}`, `machineid=${plan.machineId}`, 'vmgenid=driver', 't0=100.00', 'steps=files:100.10,mac:100.50,', ...(o.gnuDate ? ['clock=date'] : []), ...(o.entropyOk === false ? [] : ['entropy=ok'])];
          return { exited: true, exitcode: 0, 'out-data': Buffer.from(out.join('\n') + '\n').toString('base64') };
        }
        case 'guest-set-time':
          guestOffsetMs = args.time / 1e6 - Date.now();
          return {};
        case 'guest-file-open':
          return 1;
        case 'guest-file-read':
          return { 'buf-b64': Buffer.alloc(16, 7).toString('base64') };
        case 'guest-file-close':
          return {};
        case 'guest-network-get-interfaces':
          return [{ name: 'ens4', 'hardware-address': plan.mac, 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': plan.ip, prefix: 8 }] }];
        default:
          throw new Error(`unexpected ${cmd}`);
      }
    },
  };
  return { agent: agent as unknown as AgentClient, calls, exec: () => execArgs };
}

const opts = { prefixLen: 8, gateway: '10.0.2.2', label: 'web-1', iface: 'ens4', net: 'networkd' as const, timeoutMs: 5000 };

describe('identity through the stock agent', () => {
  it('sets the clock with GNU date as "now + the measured offset", entropy on stdin, no guest-set-time', async () => {
    const f = fakeAgent({ gnuDate: true });
    const v = await applyStockIdentity(f.agent, plan, opts);
    expect(v.clockMethod).toBe('date');
    expect(Math.abs(v.clockSkewMs)).toBeLessThan(100);
    const off = f.exec().arg.at(-1) as string;
    expect(off).toMatch(/^\+\d+\.\d{3} seconds$/);
    expect(Math.abs(Number(off.split(' ')[0]) - 600)).toBeLessThan(1);
    expect(f.calls.map((c) => c.cmd)).not.toContain('guest-set-time');
    // entropy: only octal escapes for the printf builtin, never NUL, one line; not in argv
    const input = Buffer.from(f.exec()['input-data'], 'base64').toString();
    expect(input).toMatch(/^(\\[0-7]{3})+\n$/);
    expect(input).not.toContain('\\000');
    expect(input.length).toBeGreaterThan(4 * 50);
    expect(f.exec().arg.join(' ')).not.toContain(input.trim().slice(0, 12));
    expect(v.guestSteps).toBe('files:100,mac:500');
    expect(v).toMatchObject({ method: 'agent', hostname: 'web-1', ip: '10.1.0.2', entropyReseeded: true, iface: 'ens4' });
  });

  it('falls back to guest-set-time when the guest has no GNU date', async () => {
    const f = fakeAgent({ gnuDate: false });
    const v = await applyStockIdentity(f.agent, plan, opts);
    expect(v.clockMethod).toBe('guest-set-time');
    expect(f.calls.filter((c) => c.cmd === 'guest-set-time')).toHaveLength(1);
    expect(Math.abs(v.clockSkewMs)).toBeLessThan(100);
  });

  it('fails loudly when the host entropy did not reach the guest', async () => {
    const f = fakeAgent({ gnuDate: true, entropyOk: false });
    await expect(applyStockIdentity(f.agent, plan, opts)).rejects.toThrow(/child web-1: identity check failed: could not add host entropy/);
  });
});
