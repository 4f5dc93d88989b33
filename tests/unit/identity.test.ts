// identity.ts without QEMU: validation, the collision report, GUID decoding, and applyIdentity's
// read-back checks against a scripted fake agent.
import { describe, expect, it } from 'vitest';
import { AgentError, type AgentClient } from '../../lib/engine/agent';
import { EngineError } from '../../lib/engine/errors';
import {
  applyIdentity,
  assertNoCollisions,
  findCollisions,
  guidFromLeHex,
  IDENTITY_HELPER,
  isValidHostname,
  newMachineId,
  newVmgenid,
  parseStoredIdentity,
  prefixToMask,
  type VerifiedIdentity,
} from '../../lib/engine/identity';
import { identityPlan } from './fixtures';

const plan = identityPlan;

/**
 * A fake agent whose identity helper (or, with `helper: false`, whose fallback script) prints what
 * `guest` says the guest reports. Without the helper, its guest-exec fails like qemu-ga does.
 */
function fakeAgent(guest: Partial<Record<string, string>>, calls: { command: string; args?: unknown }[] = [], opts: { helper?: boolean } = {}) {
  const nowSec = () => Math.floor(Date.now() / 1000);
  return {
    async call(command: string, args?: Record<string, unknown>) {
      calls.push({ command, args });
      return {};
    },
    async exec(argv: string[], o: { input?: Buffer }) {
      calls.push({ command: 'guest-exec', args: { argv, input: o.input } });
      const t = Date.now();
      const helper = argv[0] === IDENTITY_HELPER;
      if (helper && opts.helper === false) {
        throw new AgentError('guest-exec', 'GenericError', `Guest agent command failed, error was 'Failed to execute child process “${IDENTITY_HELPER}” (No such file or directory)'`);
      }
      // helper argv: PATH hostname machineId mac ip mask gw timeNs; script: sh -c SCRIPT $0 hostname machineId mac ip mask gw
      const v = helper ? argv.slice(1) : argv.slice(4);
      const out: Record<string, string | undefined> = {
        reseed: 'ok',
        vmgenid: 'unreadable',
        vmfork: 'yes',
        urandom: '00112233445566778899aabbccddeeff',
        ...(helper ? { timens: `${BigInt(t) * 1_000_000n}` } : { time: `${nowSec()} ${(t % 1000) * 1000}` }),
        ...guest,
      };
      out.machineid = guest.machineid ?? v[1];
      out.mac = guest.mac ?? v[2];
      out.hostname = guest.hostname ?? v[0];
      out.etchostname = guest.etchostname ?? v[0];
      out.ip = guest.ip ?? (helper ? `${v[3]}/8` : `2: eth0    inet ${v[3]}/8 scope global eth0`);
      return {
        exitCode: 0,
        stdout: Object.entries(out)
          .map(([k, val]) => `${k}=${val}`)
          .join('\n'),
        stderr: guest.stderr ?? '',
        polls: 1,
      };
    },
  } as unknown as AgentClient;
}

describe('identity helpers', () => {
  it('validates hostnames as RFC 1123 labels', () => {
    for (const ok of ['a', 'web-1', 'A1', 'x'.repeat(63), '0abc']) expect(isValidHostname(ok), ok).toBe(true);
    for (const bad of ['', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64), 'web 1', 'héllo', 'a;rm -rf /']) {
      expect(isValidHostname(bad), bad).toBe(false);
    }
  });

  it('makes fresh machine-ids and vmgenids', () => {
    const ids = new Set(Array.from({ length: 100 }, newMachineId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    const g = newVmgenid();
    expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newVmgenid()).not.toBe(g);
  });

  it('decodes the little-endian GUID QEMU stores for vmgenid', () => {
    // 11223344-5566-7788-99aa-bbccddeeff00 stored as 44332211 6655 8877 99aabbccddeeff00
    expect(guidFromLeHex('443322116655887799aabbccddeeff00')).toBe('11223344-5566-7788-99aa-bbccddeeff00');
    expect(guidFromLeHex('xyz')).toBeNull();
  });

  it('turns prefixes into netmasks', () => {
    expect(prefixToMask(8)).toBe('255.0.0.0');
    expect(prefixToMask(16)).toBe('255.255.0.0');
    expect(prefixToMask(24)).toBe('255.255.255.0');
    expect(prefixToMask(30)).toBe('255.255.255.252');
  });

  it('reports collisions among siblings and with the parent in words', () => {
    const base = (i: number): VerifiedIdentity => ({
      hostname: `a-${i}`,
      mac: `52:54:00:00:00:0${i}`,
      ip: `10.1.0.${i}`,
      machineId: String(i).repeat(32),
      vmgenid: `${i}`.repeat(8) + '-0000-4000-8000-000000000000',
      clockSkewMs: 0,
      urandomHex: String(i).repeat(32),
      vmgenidInGuest: null,
      vmgenidReseedSeen: true,
      entropyReseeded: true,
      applyMs: 1,
      agentCalls: 3,
      phasesMs: { setTime: 0, script: 1 },
    });
    const kids = [base(1), base(2), base(3)];
    expect(findCollisions(kids)).toEqual([]);
    kids[1] = { ...kids[1], hostname: 'a-1', ip: '10.1.0.1' };
    kids[2] = { ...kids[2], urandomHex: kids[0].urandomHex, mac: '52:54:00:00:00:01'.toUpperCase() };
    const c = findCollisions(kids, { machineId: '3'.repeat(32), hostname: 'parent' });
    expect(c).toContain('hostname "a-1" is shared by a-1 and a-1');
    expect(c).toContain('IP address "10.1.0.1" is shared by a-1 and a-1');
    expect(c).toContain('MAC "52:54:00:00:00:01" is shared by a-1 and a-3');
    expect(c).toContain('/dev/urandom read "11111111111111111111111111111111" is shared by a-1 and a-3');
    expect(c).toContain(`machine-id "${'3'.repeat(32)}" of a-3 is still the parent's`);
    expect(c).toHaveLength(5);
  });
});

describe('applyIdentity', () => {
  it('runs ONE helper process with the values and the host time as argv and host entropy on stdin', async () => {
    const calls: { command: string; args?: any }[] = [];
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const v = await applyIdentity(fakeAgent({}, calls), plan, { prefixLen: 8, gateway: '10.0.2.2' });
    expect(calls.map((c) => c.command)).toEqual(['guest-exec']);
    const { argv, input } = calls[0].args;
    expect(argv.slice(0, 7)).toEqual([IDENTITY_HELPER, 'web-1', plan.machineId, plan.mac, plan.ip, '255.0.0.0', '10.0.2.2']);
    expect(argv).toHaveLength(8);
    const ns = BigInt(argv[7]);
    expect(ns >= t0 - 1_000_000_000n && ns <= t0 + 5_000_000_000n).toBe(true);
    expect(Buffer.isBuffer(input) && input.length).toBe(64);
    expect(v).toMatchObject({ ...plan, urandomHex: '00112233445566778899aabbccddeeff', vmgenidReseedSeen: true, entropyReseeded: true, method: 'helper' });
    expect(v.agentCalls).toBe(2);
    expect(v.phasesMs.setTime).toBe(0);
    expect(Math.abs(v.clockSkewMs)).toBeLessThan(2000);
  });

  it('without the helper (older images): sets the clock, then runs ONE script with the values as argv; remembers it', async () => {
    const calls: { command: string; args?: any }[] = [];
    const agent = fakeAgent({}, calls, { helper: false });
    const v = await applyIdentity(agent, plan, { prefixLen: 8, gateway: '10.0.2.2' });
    expect(calls.map((c) => c.command)).toEqual(['guest-exec', 'guest-set-time', 'guest-exec']);
    expect(Math.abs(calls[1].args.time / 1e6 - Date.now())).toBeLessThan(5000);
    const { argv, input } = calls[2].args;
    expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv.slice(3)).toEqual(['instaclone-identity', 'web-1', plan.machineId, plan.mac, plan.ip, '255.0.0.0', '10.0.2.2']);
    expect(argv[2]).not.toContain('web-1'); // values never interpolated into the script
    expect(Buffer.isBuffer(input) && input.length).toBe(64);
    expect(v).toMatchObject({ ...plan, urandomHex: '00112233445566778899aabbccddeeff', vmgenidReseedSeen: true, entropyReseeded: true, method: 'script' });
    expect(v.agentCalls).toBe(4);
    expect(Math.abs(v.clockSkewMs)).toBeLessThan(2000);
    // the same connection does not try the helper again
    calls.length = 0;
    await applyIdentity(agent, plan, { prefixLen: 8, gateway: '10.0.2.2' });
    expect(calls.map((c) => c.command)).toEqual(['guest-set-time', 'guest-exec']);
  });

  it('does not fall back when the helper exists but the agent fails otherwise', async () => {
    const agent = {
      async call() {
        return {};
      },
      async exec() {
        throw new AgentError('guest-exec', 'GenericError', 'something else broke');
      },
    } as unknown as AgentClient;
    const err: any = await applyIdentity(agent, plan, { label: 'c-1' }).catch((e: any) => e);
    expect(err.message).toMatch(/^child c-1: identity check failed: the guest agent could not run \/usr\/sbin\/instaclone-identity \(.*something else broke/);
  });

  it('rejects an invalid hostname before touching the guest', async () => {
    const calls: { command: string }[] = [];
    const err: any = await applyIdentity(fakeAgent({}, calls), { ...plan, hostname: 'bad_name' }).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('invalid');
    expect(err.message).toMatch(/"bad_name" is not a valid hostname/);
    expect(calls).toHaveLength(0);
  });

  it.each([true, false])('fails loudly, naming the child, when the guest reports something else (helper: %s)', async (helper) => {
    const err: any = await applyIdentity(
      fakeAgent({ mac: '52:54:00:12:34:56', hostname: 'instaclone', ...(helper ? { timens: '1000000000000' } : { time: '1000 0' }), reseed: 'failed', stderr: 'setting the clock: Operation not permitted' }, [], { helper }),
      plan,
      { label: 'child-7' },
    ).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('qemu');
    expect(err.message).toMatch(/^child child-7: identity check failed: /);
    expect(err.message).toMatch(/hostname is "instaclone", expected "web-1"/);
    expect(err.message).toMatch(/eth0 MAC is "52:54:00:12:34:56", expected "52:54:00:ab:cd:01"/);
    expect(err.message).toMatch(helper ? /instaclone-identity failed to add host entropy/ : /instaclone-reseed failed to add host entropy/);
    expect(err.message).toMatch(/guest said: setting the clock: Operation not permitted/);
    expect(err.message).toMatch(/guest clock is -?\d+\.\d s off/);
  });

  it('notices a leftover parent address and a wrong vmgenid seen by the guest (helper)', async () => {
    const err: any = await applyIdentity(fakeAgent({ ip: '10.0.2.15/24 10.1.0.7/8', vmgenid: '443322116655887799aabbccddeeff00' }), plan).catch((e: any) => e);
    expect(err.message).toMatch(/eth0 has 10.0.2.15\/24, 10.1.0.7\/8, expected 10.1.0.7\/8 only/);
    expect(err.message).toMatch(/guest sees vmgenid 11223344-5566-7788-99aa-bbccddeeff00/);
  });

  it('notices a leftover parent address and a wrong vmgenid seen by the guest (script)', async () => {
    const err: any = await applyIdentity(
      fakeAgent({
        ip: '2: eth0    inet 10.0.2.15/24 scope global eth0\\ 2: eth0    inet 10.1.0.7/8 scope global secondary eth0',
        vmgenid: '443322116655887799aabbccddeeff00',
      }, [], { helper: false }),
      plan,
    ).catch((e: any) => e);
    expect(err.message).toMatch(/eth0 has 10.0.2.15\/24, 10.1.0.7\/8, expected 10.1.0.7\/8 only/);
    expect(err.message).toMatch(/guest sees vmgenid 11223344-5566-7788-99aa-bbccddeeff00/);
  });
});

describe("a fork's collision check", () => {
  const id = (i: number, over: Partial<VerifiedIdentity> = {}): VerifiedIdentity => ({
    hostname: `t-${i}`,
    mac: `52:54:00:00:01:${String(i).padStart(2, '0')}`,
    ip: `10.1.1.${i}`,
    machineId: (i.toString(16) + 'a').repeat(16).slice(0, 32),
    vmgenid: `${i}`.repeat(8).slice(0, 8) + '-0000-4000-8000-000000000000',
    clockSkewMs: 0,
    urandomHex: (i.toString(16) + 'b').repeat(16).slice(0, 32),
    vmgenidInGuest: null,
    vmgenidReseedSeen: true,
    entropyReseeded: true,
    applyMs: 1,
    agentCalls: 2,
    phasesMs: { setTime: 0, script: 1 },
    ...over,
  });

  it('passes when the fork, the live siblings and the parent are all distinct', () => {
    expect(() => assertNoCollisions([id(1), id(2)], [id(3)], { ip: '10.0.2.15' }, 'fork of "t"')).not.toThrow();
  });

  it("fails loudly on a collision with a live child of the template or with the parent", () => {
    let err: any;
    try {
      assertNoCollisions([id(1), id(2, { machineId: id(3).machineId })], [id(3)], { ip: '10.1.1.1' }, 'fork of "t"');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('qemu');
    expect(err.message).toMatch(/^fork of "t": identity check failed: /);
    expect(err.message).toContain(`machine-id "${id(3).machineId}" is shared by t-2 and t-3`);
    expect(err.message).toContain(`IP address "10.1.1.1" of t-1 is still the parent's`);
    expect(err.message).toMatch(/the fork's children were removed/);
  });

  it('reads stored identities and skips rows without one', () => {
    expect(parseStoredIdentity(JSON.stringify(id(4)))?.hostname).toBe('t-4');
    for (const bad of [null, undefined, '', '{}', 'not json']) expect(parseStoredIdentity(bad)).toBeNull();
  });
});
