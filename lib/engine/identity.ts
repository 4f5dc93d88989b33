// Per-child identity: hostname, /etc/machine-id, MAC, IP, clock and a fresh RNG, applied through
// the guest agent right after a fork and then read back from inside the guest (issue 5).
//
// Latency matters (this runs for every child of every fork, and a fresh child's TCG translation
// cache is empty, so every guest process start is slow), so the whole customisation is ONE
// guest-exec of /usr/sbin/instaclone-identity (lib/guest/tiny/instaclone-identity.c): a static
// binary that sets the clock (host time in ns, as argv), hostname, machine-id, MAC, address, route,
// adds host entropy (64 bytes on stdin) + RNDRESEEDCRNG, sends a gratuitous ARP, and prints what the
// guest now reports, using syscalls and ioctls only (no fork/exec). Values are argv entries, never
// interpolated into anything. Then the guest-exec-status polls of that exec (typically one to three).
//
// Faster still (templates whose image serves it, MachineConfig.identityChannel): the resident
// `instaclone-identity --serve` on its own virtio-serial port takes the same values as ONE line and
// answers ONE line with the same read-back (identity-channel.ts): no guest-exec, no process start.
// No answer within a short timeout → the guest-exec path below, noted in VerifiedIdentity.channelFallback.
//
// Images without the helper (older builds, the debian image) get the previous path: guest-set-time
// (qemu-ga settimeofday + hwclock) and ONE busybox `sh -c SCRIPT` (about 8 forks) with the same
// argv/stdin contract, using /usr/sbin/instaclone-reseed for the entropy. Which one a guest has is
// remembered per agent connection.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AgentClient } from './agent';
import { EngineError } from './errors';
import { buildIdentityRequest, newNonce, type IdentityChannel } from './identity-channel';

export interface IdentityPlan {
  hostname: string;
  mac: string;
  ip: string;
  machineId: string;
  vmgenid: string;
}

export interface VerifiedIdentity extends IdentityPlan {
  /**
   * How far the guest's clock, read at the end of the identity script, lies outside the host's
   * time window [exec sent, result received]; 0 when it falls inside (sign: + guest ahead).
   */
  clockSkewMs: number;
  /** 16 bytes of /dev/urandom read in the guest after the reseed, hex */
  urandomHex: string;
  /**
   * The vmgenid GUID as the guest reads it (fw_cfg `etc/vmgenid_guid`, needs the qemu_fw_cfg
   * module), or null when the guest cannot read it (the tiny image's kernel exposes it nowhere).
   */
  vmgenidInGuest: string | null;
  /** true when the guest kernel logged "crng reseeded due to virtual machine fork" (vmgenid change seen) */
  vmgenidReseedSeen: boolean;
  /** /usr/sbin/instaclone-reseed ran and succeeded (host entropy added, CRNG reseeded) */
  entropyReseeded: boolean;
  /** wall time of applyIdentity, ms */
  applyMs: number;
  /** agent round trips used (requests sent) */
  agentCalls: number;
  /**
   * where the time went, ms: guest-set-time (0 with the helper), and the identity exec + status polls;
   * stock agent also: entropy (host entropy written) and lease (script end → the child's address seen)
   */
  phasesMs: { setTime: number; script: number; entropy?: number; lease?: number };
  /**
   * 'channel': one line to the resident `instaclone-identity --serve` on the identity port (no guest
   * process start); 'helper': /usr/sbin/instaclone-identity run through guest-exec (one process);
   * 'script': guest-set-time + busybox script
   */
  method?: 'channel' | 'helper' | 'script' | 'agent';
  /** 'agent' (stock qemu-guest-agent): the guest's ed25519 SSH host public key, base64 (when it has one) */
  sshHostKey?: string;
  /** 'agent': how the clock was set: GNU date in the identity script ("now + offset"), or qemu-ga's guest-set-time */
  clockMethod?: 'date' | 'guest-set-time';
  /** 'agent': the primary interface the identity was applied to */
  iface?: string;
  /** why the identity channel was not used although the VM has one (it failed or timed out) */
  channelFallback?: string;
  /**
   * where the time went in the guest: helper "step:µs since start,…" (reseed, clock, files, net, readback);
   * stock agent "step:ms since the script began,…" (files, mac, lease started, ssh; /proc/uptime, 10 ms)
   */
  guestSteps?: string;
}

/** The in-guest identity helper (tiny image); see lib/guest/tiny/instaclone-identity.c. */
export const IDENTITY_HELPER = '/usr/sbin/instaclone-identity';

/** Agents whose guest has no identity helper (use the script); remembered per connection. */
const noHelper = new WeakSet<object>();

const HOSTNAME_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MACHINE_ID_RE = /^[0-9a-f]{32}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True when `h` is a valid RFC 1123 host label: 1-63 letters, digits or '-', not starting or ending with '-'. */
export function isValidHostname(h: string): boolean {
  return HOSTNAME_RE.test(h);
}

export function assertValidHostname(h: string): void {
  if (!isValidHostname(h)) {
    throw new EngineError(
      'invalid',
      `"${h}" is not a valid hostname: use 1-63 letters, digits or '-' (RFC 1123 label), not starting or ending with '-'.`,
    );
  }
}

/** A fresh /etc/machine-id: 128 random bits as 32 lowercase hex digits (never all zero). */
export function newMachineId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (!/^0+$/.test(id)) return id;
  }
}

/** A fresh vmgenid GUID (random UUID). */
export function newVmgenid(): string {
  return randomUUID();
}

function validatePlan(plan: IdentityPlan, prefixLen: number, gateway: string): void {
  assertValidHostname(plan.hostname);
  const bad = (what: string, v: string, hint: string) =>
    new EngineError('invalid', `identity plan for ${plan.hostname}: ${what} "${v}" is not valid; ${hint}.`);
  if (!MAC_RE.test(plan.mac)) throw bad('MAC', plan.mac, 'use six lowercase hex octets like 52:54:00:12:34:56');
  if (parseInt(plan.mac.slice(0, 2), 16) & 1) throw bad('MAC', plan.mac, 'a multicast MAC cannot be a NIC address');
  if (!IPV4_RE.test(plan.ip)) throw bad('IP address', plan.ip, 'use a dotted IPv4 address');
  if (!IPV4_RE.test(gateway)) throw bad('gateway', gateway, 'use a dotted IPv4 address');
  if (!Number.isInteger(prefixLen) || prefixLen < 1 || prefixLen > 30) {
    throw bad('prefix length', String(prefixLen), 'use 1-30');
  }
  if (!MACHINE_ID_RE.test(plan.machineId)) throw bad('machine-id', plan.machineId, 'use 32 lowercase hex digits (newMachineId())');
  if (!UUID_RE.test(plan.vmgenid)) throw bad('vmgenid', plan.vmgenid, 'use a lowercase UUID (newVmgenid())');
}

// The identity script. Values come in as $1..$5 (argv, never interpolated); entropy on stdin.
// Output: one `key=value` per line. Only busybox applets and shell builtins; few forks (TCG).
export const IDENTITY_SCRIPT = `
h=$1 mid=$2 mac=$3 ip=$4 mask=$5 gw=$6
err() { echo "$*" >&2; }
# entropy first: instaclone-reseed reads stdin (our 64 host bytes) to EOF
if /usr/sbin/instaclone-reseed; then echo reseed=ok; else echo reseed=failed; fi
echo "$h" > /proc/sys/kernel/hostname || err "setting the hostname failed"
echo "$h" > /etc/hostname
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n' "$h" > /etc/hosts
echo "$mid" > /etc/machine-id
if [ -e /sys/class/net/eth0 ]; then
  # one command: MAC (virtio-net changes it live), primary address (replaces the parent's), up
  ifconfig eth0 hw ether "$mac" "$ip" netmask "$mask" up || {
    ifconfig eth0 down; ifconfig eth0 hw ether "$mac" "$ip" netmask "$mask" up || err "setting MAC $mac and address $ip failed"; }
  ip route replace default via "$gw" dev eth0 || err "setting the default route via $gw failed"
  # gratuitous ARP so that neighbours (bridge peers, slirp) learn the new MAC/IP at once
  arping -U -c 1 -I eth0 "$ip" >/dev/null 2>&1 </dev/null &
  read -r m < /sys/class/net/eth0/address; echo "mac=$m"
  echo "ip=$(ip -4 -o addr show dev eth0)"
else
  err "the guest has no eth0"
fi
read -r x < /proc/sys/kernel/hostname; echo "hostname=$x"
read -r x < /etc/hostname; echo "etchostname=$x"
read -r x < /etc/machine-id; echo "machineid=$x"
g=/sys/firmware/qemu_fw_cfg/by_name/etc/vmgenid_guid/raw
if [ -r $g ]; then echo "vmgenid=$(xxd -p -s 40 -l 16 $g)"; else echo vmgenid=unreadable; fi
k=$(dmesg 2>/dev/null)
case "$k" in *"virtual machine fork"*) echo vmfork=yes;; *) echo vmfork=no;; esac
echo "urandom=$(xxd -p -l 16 /dev/urandom)"
t=$(adjtimex); s=\${t#*tv_sec:}; u=\${t#*tv_usec:}
echo "time="\${s%%[!0-9 ]*} \${u%%[!0-9 ]*}
`;

/** Little-endian (Microsoft) GUID bytes as QEMU stores them → canonical UUID string. */
export function guidFromLeHex(hex: string): string | null {
  if (!/^[0-9a-f]{32}$/i.test(hex)) return null;
  const b = Buffer.from(hex, 'hex');
  const be = Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8, 16),
  ]).toString('hex');
  return `${be.slice(0, 8)}-${be.slice(8, 12)}-${be.slice(12, 16)}-${be.slice(16, 20)}-${be.slice(20)}`;
}

export function prefixToMask(prefixLen: number): string {
  const n = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const hostNowNs = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

export interface ApplyIdentityOptions {
  prefixLen?: number;
  gateway?: string;
  /** a label for messages, e.g. the child's name (default: the planned hostname) */
  label?: string;
  timeoutMs?: number;
  /**
   * The VM's resident identity channel (identity-channel.ts). When given and open it is tried first;
   * no answer within `channelTimeoutMs` (or a closed channel) falls back to the guest agent.
   */
  channel?: IdentityChannel | null;
  channelTimeoutMs?: number;
  /** stock-agent guests: regenerate the SSH host keys (identity-agent.ts) */
  sshKeys?: boolean;
}

/**
 * Applies `plan` in the guest behind `agent` and proves it from inside the guest. Throws
 * EngineError('invalid') for a bad plan and EngineError('qemu', 'child X: identity check failed: …')
 * when the guest reports anything other than the plan.
 */
export async function applyIdentity(
  agentOrPromise: AgentClient | Promise<AgentClient>,
  plan: IdentityPlan,
  opts: ApplyIdentityOptions = {},
): Promise<VerifiedIdentity> {
  const prefixLen = opts.prefixLen ?? 8;
  const gateway = opts.gateway ?? '10.0.2.2';
  const label = opts.label ?? plan.hostname;
  validatePlan(plan, prefixLen, gateway);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const t0 = performance.now();
  const fail = (what: string) => new EngineError('qemu', `child ${label}: identity check failed: ${what}`, { plan });

  // an agent still connecting is awaited only if the channel is not used (its failure is the caller's)
  if (agentOrPromise instanceof Promise) agentOrPromise.catch(() => undefined);
  const mask = prefixToMask(prefixLen);
  const execOpts = { timeoutMs, firstPollMs: 10, maxPollMs: 10 };
  let calls = 0;
  let clockError: string | null = null;
  let tSet = 0;
  let before = hostNowNs();
  let after = before;
  let res: { stdout: string; stderr: string; exitCode: number; polls?: number } | undefined;
  let kv: Map<string, string> | undefined;
  let method: 'channel' | 'helper' | 'script' = 'helper';
  let channelFallback: string | undefined;

  // 0. the resident helper on the identity port: one line out, one line back
  if (opts.channel) {
    const nonce = newNonce();
    try {
      before = hostNowNs();
      const line = buildIdentityRequest({ nonce, hostname: plan.hostname, machineId: plan.machineId, mac: plan.mac, ip: plan.ip, mask, gateway, timeNs: before, entropy: randomBytes(64) });
      calls++;
      kv = await opts.channel.request(line, nonce, opts.channelTimeoutMs ?? 3000);
      after = hostNowNs();
      method = 'channel';
      res = { stdout: '', stderr: (kv.get('err') ?? '').split(';').join('\n'), exitCode: 0, polls: 0 };
    } catch (e) {
      kv = undefined;
      channelFallback = (e as Error).message;
    }
  }

  if (!kv) {
    const agent = await agentOrPromise;
    before = hostNowNs();
    // 1. one process does it all (the clock too: the host's time in ns as argv)
    if (!noHelper.has(agent)) {
      try {
        calls++;
        res = await agent.exec([IDENTITY_HELPER, plan.hostname, plan.machineId, plan.mac, plan.ip, mask, gateway, String(before)], {
          input: randomBytes(64),
          ...execOpts,
        });
      } catch (e) {
        // qemu-ga: "Failed to execute child process “…” (No such file or directory)"
        if (!/No such file|not found|ENOENT/i.test((e as Error).message)) {
          throw fail(`the guest agent could not run ${IDENTITY_HELPER} (${(e as Error).message})`);
        }
        noHelper.add(agent);
      }
    }

    // 2. fallback for images without the helper: guest-set-time (qemu-ga also runs hwclock -w; if only
    //    that part fails the system time is set all the same, which the read-back checks), then the script
    if (!res) {
      method = 'script';
      const tS = performance.now();
      try {
        calls++;
        await agent.call('guest-set-time', { time: Number(hostNowNs()) }, timeoutMs);
      } catch (e) {
        clockError = (e as Error).message;
      }
      tSet = performance.now() - tS;
      before = hostNowNs();
      try {
        calls++;
        res = await agent.exec(['/bin/sh', '-c', IDENTITY_SCRIPT, 'instaclone-identity', plan.hostname, plan.machineId, plan.mac, plan.ip, mask, gateway], {
          input: randomBytes(64),
          ...execOpts,
        });
      } catch (e) {
        throw fail(`the guest agent could not run the identity script (${(e as Error).message})`);
      }
    }
    after = hostNowNs();
    calls += res.polls ?? 1;
    kv = new Map<string, string>();
    for (const line of res.stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
    }
  }
  if (!res) throw fail('no result'); // unreachable: every path above sets res or throws

  const problems: string[] = [];
  const what = method === 'script' ? 'the script' : IDENTITY_HELPER;
  if (res.exitCode !== 0 && !kv.has('time') && !kv.has('timens')) problems.push(`${what} exited with ${res.exitCode}`);
  if (res.stderr.trim()) problems.push(`guest said: ${res.stderr.trim().split('\n').join('; ')}`);
  const got = {
    hostname: kv.get('hostname') ?? '',
    etchostname: kv.get('etchostname') ?? '',
    machineId: kv.get('machineid') ?? '',
    mac: (kv.get('mac') ?? '').toLowerCase(),
    ipLine: kv.get('ip') ?? '',
  };
  if (got.hostname !== plan.hostname) problems.push(`hostname is "${got.hostname}", expected "${plan.hostname}"`);
  if (got.etchostname !== plan.hostname) problems.push(`/etc/hostname is "${got.etchostname}", expected "${plan.hostname}"`);
  if (got.machineId !== plan.machineId) problems.push(`/etc/machine-id is "${got.machineId}", expected "${plan.machineId}"`);
  if (got.mac !== plan.mac.toLowerCase()) problems.push(`eth0 MAC is "${got.mac}", expected "${plan.mac}"`);
  // the helper prints "A.B.C.D/P[ …]"; the script prints `ip -4 -o addr` lines ("inet A.B.C.D/P …")
  const addrs = [...got.ipLine.matchAll(/(?:^|inet |\s)(\d+\.\d+\.\d+\.\d+)\/(\d+)/g)].map((m) => `${m[1]}/${m[2]}`);
  if (addrs.length !== 1 || addrs[0] !== `${plan.ip}/${prefixLen}`) {
    problems.push(`eth0 has ${addrs.length ? addrs.join(', ') : 'no IPv4 address'}, expected ${plan.ip}/${prefixLen} only`);
  }
  const urandomHex = kv.get('urandom') ?? '';
  if (!/^[0-9a-f]{32}$/.test(urandomHex)) problems.push(`could not read 16 bytes of /dev/urandom (got "${urandomHex}")`);
  const entropyReseeded = kv.get('reseed') === 'ok';
  if (!entropyReseeded) problems.push(`${method === 'script' ? '/usr/sbin/instaclone-reseed' : IDENTITY_HELPER} failed to add host entropy (no fresh host entropy)`);
  const vmgenRaw = kv.get('vmgenid') ?? 'unreadable';
  const vmgenidInGuest = vmgenRaw === 'unreadable' ? null : guidFromLeHex(vmgenRaw);
  if (vmgenidInGuest !== null && vmgenidInGuest !== plan.vmgenid.toLowerCase()) {
    problems.push(`the guest sees vmgenid ${vmgenidInGuest}, expected ${plan.vmgenid}`);
  }
  // helper: timens=NS; script: time=SEC USEC
  const tns = /^(\d+)$/.exec(kv.get('timens') ?? '');
  const tm = /^(\d+) (\d+)$/.exec(kv.get('time') ?? '');
  let clockSkewMs = NaN;
  if (!tns && !tm) problems.push(`could not read the guest clock (got "${kv.get('timens') ?? kv.get('time') ?? ''}")`);
  else {
    const g = tns ? BigInt(tns[1]) : BigInt(tm![1]) * 1_000_000_000n + BigInt(tm![2]) * 1000n;
    const d = g < before ? g - before : g > after ? g - after : 0n;
    clockSkewMs = Number(d) / 1e6;
    if (Math.abs(clockSkewMs) > 2000) {
      problems.push(`the guest clock is ${(clockSkewMs / 1000).toFixed(1)} s off the host's${clockError ? ` (guest-set-time: ${clockError})` : ''}`);
    }
  }
  if (problems.length) throw fail(problems.join('; '));

  return {
    ...plan,
    mac: plan.mac.toLowerCase(),
    clockSkewMs,
    urandomHex,
    vmgenidInGuest,
    vmgenidReseedSeen: kv.get('vmfork') === 'yes',
    entropyReseeded,
    applyMs: Math.round((performance.now() - t0) * 10) / 10,
    agentCalls: calls,
    phasesMs: { setTime: Math.round(tSet * 10) / 10, script: Math.round(Number(after - before) / 1e5) / 10 },
    method,
    ...(channelFallback ? { channelFallback } : {}),
    ...(kv.has('steps') ? { guestSteps: kv.get('steps') } : {}),
  };
}

/**
 * Pairwise collisions among verified identities (siblings) and with their parent, in words:
 * 'hostname "a-1" is shared by a-1 and a-2'. Empty when all is unique.
 */
export function findCollisions(items: VerifiedIdentity[], parent?: Partial<VerifiedIdentity>): string[] {
  const fields: [keyof VerifiedIdentity, string][] = [
    ['hostname', 'hostname'],
    ['mac', 'MAC'],
    ['ip', 'IP address'],
    ['machineId', 'machine-id'],
    ['vmgenid', 'vmgenid'],
    ['urandomHex', '/dev/urandom read'],
    ['sshHostKey', 'SSH host key'],
  ];
  const out: string[] = [];
  for (const [key, word] of fields) {
    const norm = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v);
    const groups = new Map<unknown, string[]>();
    for (const it of items) {
      const v = norm(it[key]);
      if (v === undefined || v === null || v === '') continue;
      const g = groups.get(v) ?? [];
      g.push(it.hostname);
      groups.set(v, g);
    }
    for (const [v, names] of groups) {
      if (names.length > 1) out.push(`${word} "${String(v)}" is shared by ${names.join(' and ')}`);
    }
    const pv = parent ? norm(parent[key]) : undefined;
    if (pv !== undefined && pv !== null && pv !== '') {
      const names = groups.get(pv);
      if (names) out.push(`${word} "${String(pv)}" of ${names.join(' and ')} is still the parent's`);
    }
  }
  return out;
}

/**
 * The collision check of a fork: the fork's freshly verified children against each other, against
 * the template's other live children and against the parent. Throws EngineError('qemu') naming
 * every collision (the caller removes the fork's children); returns quietly when all is unique.
 */
export function assertNoCollisions(
  forked: VerifiedIdentity[],
  others: VerifiedIdentity[],
  parent: Partial<VerifiedIdentity> | undefined,
  what: string,
): void {
  const c = findCollisions([...forked, ...others], parent);
  if (c.length) {
    throw new EngineError('qemu', `${what}: identity check failed: ${c.join('; ')}; the fork's children were removed, fork again.`, { collisions: c });
  }
}

/** A stored identity JSON (Vm.identity) as a VerifiedIdentity, or null when it has none. */
export function parseStoredIdentity(json: string | null | undefined): VerifiedIdentity | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json) as VerifiedIdentity;
    return v && typeof v.hostname === 'string' && v.hostname ? v : null;
  } catch {
    return null;
  }
}
