// The resident identity channel without QEMU: request/reply framing, nonce matching, timeouts and
// applyIdentity's channel path (verification, fallback to the agent) against a fake guest socket.
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildArgv, type MachineConfig, type Role } from '../../lib/engine/argv';
import { EngineError } from '../../lib/engine/errors';
import { applyIdentity, IDENTITY_HELPER } from '../../lib/engine/identity';
import { identityPlan, launchSpec } from './fixtures';
import { buildIdentityRequest, IdentityChannel, parseIdentityReply } from '../../lib/engine/identity-channel';

const plan = identityPlan;

type Guest = (fields: string[]) => string | null | Promise<string | null>;

/** A fake guest end of the port: gets request lines, answers with what `guest` returns (null = silence). */
function fakePort(guest: Guest, seen: string[] = []) {
  let buf = '';
  const d: Duplex = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen.push(line);
        Promise.resolve(guest(line.split(' '))).then((r) => {
          if (r !== null) d.push(r);
        });
      }
      cb();
    },
  });
  return d;
}

/** What instaclone-identity --serve answers for a request, with `over` replacing read-back values. */
function served(over: Record<string, string> = {}): Guest {
  return (f) => {
    if (f.length === 1) return `nonce=${f[0]}\tpong=1\n`;
    const [nonce, host, mid, mac, ip, mask] = f;
    const prefix = mask.split('.').reduce((n, o) => n + (Number(o).toString(2).match(/1/g)?.length ?? 0), 0);
    const kv: Record<string, string> = {
      nonce,
      reseed: 'ok',
      hostname: host,
      etchostname: host,
      machineid: mid,
      mac,
      ip: `${ip}/${prefix}`,
      vmgenid: 'unreadable',
      vmfork: 'yes',
      urandom: '00112233445566778899aabbccddeeff',
      steps: 'reseed:10,clock:20',
      timens: `${BigInt(Date.now()) * 1_000_000n}`,
      err: '',
      ...over,
    };
    return Object.entries(kv).map(([k, v]) => `${k}=${v}`).join('\t') + '\n';
  };
}

const noAgent = () => Promise.reject(new Error('the agent must not be used'));

describe('identity channel framing', () => {
  it('builds one space-separated request line with the entropy as hex', () => {
    const line = buildIdentityRequest({ nonce: 'n1', hostname: 'h', machineId: 'm', mac: 'aa', ip: '1.2.3.4', mask: '255.0.0.0', gateway: '10.0.2.2', timeNs: 5n, entropy: Buffer.from([1, 255]) });
    expect(line).toBe('n1 h m aa 1.2.3.4 255.0.0.0 10.0.2.2 5 01ff\n');
    expect(() => buildIdentityRequest({ nonce: 'n', hostname: 'a b', machineId: 'm', mac: 'x', ip: 'i', mask: 'k', gateway: 'g', timeNs: 1n, entropy: Buffer.from([1]) })).toThrow(/whitespace/);
  });

  it('parses a TAB-separated reply, keeping "=" inside values and empty values', () => {
    const kv = parseIdentityReply('nonce=ab\thostname=x\tsteps=a:1,b:2\terr=\tweird=a=b\r\n');
    expect(Object.fromEntries(kv)).toEqual({ nonce: 'ab', hostname: 'x', steps: 'a:1,b:2', err: '', weird: 'a=b' });
  });

  it('matches replies by nonce, drops stale ones, and splits replies that arrive in pieces', async () => {
    const port = fakePort(() => null);
    const ch = new IdentityChannel(port);
    const p = ch.request('n2 x\n', 'n2', 1000);
    port.push('nonce=old\thostname=stale\n'); // a late answer to an earlier, timed-out request
    port.push('nonce=n2\thost');
    port.push('name=fresh\n');
    const kv = await p;
    expect(kv.get('hostname')).toBe('fresh');
  });

  it('times out, and rejects at once when the port closes', async () => {
    const ch = new IdentityChannel(fakePort(() => null));
    await expect(ch.request('n x\n', 'n', 50)).rejects.toThrow(/within 50 ms/);
    const port = fakePort(() => null);
    const ch2 = new IdentityChannel(port);
    const p = ch2.request('n x\n', 'n', 5000);
    port.destroy();
    await expect(p).rejects.toThrow(/closed/);
    expect(ch2.usable).toBe(false);
  });

  it('probes the resident helper', async () => {
    expect(await new IdentityChannel(fakePort(served())).probe(500)).toBe(true);
    expect(await new IdentityChannel(fakePort(() => null)).probe(30)).toBe(false);
  });
});

describe('applyIdentity over the channel', () => {
  it('sends ONE line with the plan, host time and 64 bytes of entropy; verifies the reply; no agent call', async () => {
    const seen: string[] = [];
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const ch = new IdentityChannel(fakePort(served(), seen));
    const v = await applyIdentity(noAgent() as never, plan, { prefixLen: 8, gateway: '10.0.2.2', channel: ch });
    expect(seen).toHaveLength(1);
    const f = seen[0].split(' ');
    expect(f.slice(1, 7)).toEqual(['web-1', plan.machineId, plan.mac, plan.ip, '255.0.0.0', '10.0.2.2']);
    expect(f[0]).toMatch(/^[0-9a-f]{16}$/);
    const ns = BigInt(f[7]);
    expect(ns >= t0 - 1_000_000_000n && ns <= t0 + 5_000_000_000n).toBe(true);
    expect(f[8]).toMatch(/^[0-9a-f]{128}$/);
    expect(v).toMatchObject({ ...plan, method: 'channel', entropyReseeded: true, vmgenidReseedSeen: true, agentCalls: 1, guestSteps: 'reseed:10,clock:20' });
    expect(v.channelFallback).toBeUndefined();
    expect(Math.abs(v.clockSkewMs)).toBeLessThan(2000);
  });

  it('a wrong read-back over the channel fails the child loudly (no silent fallback)', async () => {
    const ch = new IdentityChannel(fakePort(served({ hostname: 'instaclone', ip: '10.0.2.15/24 10.1.0.7/8', err: 'setting the hostname: Operation not permitted' })));
    const err: any = await applyIdentity(noAgent() as never, plan, { label: 'c-1', prefixLen: 8, channel: ch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toMatch(/child c-1: identity check failed/);
    expect(err.message).toMatch(/hostname is "instaclone"/);
    expect(err.message).toMatch(/10\.0\.2\.15\/24, 10\.1\.0\.7\/8/);
    expect(err.message).toMatch(/guest said: setting the hostname: Operation not permitted/);
  });

  it('a reply whose nonce is not ours is ignored, so a silent channel falls back to the agent and says why', async () => {
    const ch = new IdentityChannel(fakePort((f) => served()(['someone-else', ...f.slice(1)])));
    const calls: string[] = [];
    const agent = {
      async call() {
        return {};
      },
      async exec(argv: string[]) {
        calls.push(argv[0]);
        const v = argv.slice(1);
        const out = `reseed=ok\nhostname=${v[0]}\netchostname=${v[0]}\nmachineid=${v[1]}\nmac=${v[2]}\nip=${v[3]}/8\nvmgenid=unreadable\nvmfork=no\nurandom=00112233445566778899aabbccddeeff\ntimens=${BigInt(Date.now()) * 1_000_000n}\n`;
        return { exitCode: 0, stdout: out, stderr: '', polls: 1 };
      },
    };
    const v = await applyIdentity(Promise.resolve(agent as never), plan, { prefixLen: 8, channel: ch, channelTimeoutMs: 50 });
    expect(calls).toEqual([IDENTITY_HELPER]);
    expect(v.method).toBe('helper');
    expect(v.channelFallback).toMatch(/no answer on the identity channel within 50 ms/);
  });
});

describe('the identity port in the one argv builder', () => {
  const machine: MachineConfig = { machine: 'pc', accel: 'tcg', cpu: 'max', memoryMiB: 256, vcpus: 1, kernel: '/k', initrd: '/i', cmdline: 'c', tbSizeMiB: 32 };
  const spec = (role: Role, m: MachineConfig) => launchSpec(role, { machine: m, runDir: '/run/x' });
  const devices = (a: string[]) => a.flatMap((x, i) => (a[i - 1] === '-device' ? [x] : []));

  it('parents and children get the same devices in the same order, the identity port right after the agent port', () => {
    const m = { ...machine, identityPort: true };
    const lists = (['parent', 'child', 'receiver', 'cold'] as Role[]).map((r) => devices(buildArgv(spec(r, m))));
    for (const l of lists) expect(l).toEqual(lists[0]);
    const i = lists[0].findIndex((d) => d.includes('org.qemu.guest_agent.0'));
    expect(lists[0][i + 1]).toBe('virtserialport,bus=vser0.0,chardev=id0,name=org.instaclone.identity.0');
    expect(buildArgv(spec('child', m))).toContain('socket,id=id0,path=/run/x/identity.sock,server=on,wait=off');
  });

  it('a template recorded without identityPort (frozen before the channel existed) keeps its device list', () => {
    const a = buildArgv(spec('child', machine));
    expect(a.join(' ')).not.toMatch(/identity/);
  });
});
