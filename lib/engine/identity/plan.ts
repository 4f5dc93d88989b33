// What a child's identity is (the plan and what the guest proved), how a plan is checked before it
// reaches a guest, and the small decodings the read-back needs.
import { randomBytes, randomUUID } from 'node:crypto';
import { EngineError } from '../errors';

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
  /** where the time went, ms: guest-set-time (0 with the helper), and the identity exec + status polls */
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

export function validatePlan(plan: IdentityPlan, prefixLen: number, gateway: string): void {
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
