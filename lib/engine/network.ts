// Networking for parents and children. Pure TypeScript, no React/Next.
//
// user mode (default, unprivileged): every VM has its own QEMU slirp stack,
//   -netdev user,id=net0,net=10.0.0.0/8,host=10.0.2.2,dns=10.0.2.3,hostfwd=tcp:127.0.0.1:HP-IP:GP…
//   The image's /init gives a parent 10.0.2.15/24 via 10.0.2.2; each child is moved to its own
//   address from the pool (default 10.1.0.0/16) with prefix /8, so it still reaches 10.0.2.2 and
//   10.0.2.3 on-link. Host ports forwarded to the child's guest ports (web app 80, SSH 22) are
//   allocated without collisions.
// bridge mode (root, INSTACLONE_NET=bridge + INSTACLONE_BRIDGE=NAME): each VM gets a tap device
//   enslaved to the bridge (inside network namespace INSTACLONE_NETNS when set, where QEMU must run too); addresses come from INSTACLONE_NET_POOL (default 10.77.0.0/16, the
//   bridge owns the first address and is the gateway). Children reach each other and the host.
//
// Addresses are leases in the database (table Lease: ip @id, vmId @unique), so no two VMs ever get
// the same one, even across restarts. The store is pluggable (setNetworkStore) for tests.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { EngineError } from './errors';
import { config } from '../config';

const execFileP = promisify(execFile);

export type NetMode = 'user' | 'bridge';
/**
 * What a guest on user-mode networking may reach: `isolated` (default) nothing but its forwarded
 * ports coming in; `outbound` the outside world AND the host's loopback through 10.0.2.2 (QEMU's
 * user networking cannot separate the two). Bridged VMs are governed by the bridge.
 */
export type GuestNet = 'isolated' | 'outbound';

export interface NetworkAllocation {
  mac: string;
  ip: string;
  /** guest port -> host port on 127.0.0.1 (user mode) */
  hostPorts: Record<number, number>;
  /** prefix length and gateway the guest must use with `ip` (for applyIdentity) */
  prefixLen: number;
  gateway: string;
  mode: NetMode;
  /** bridge mode: the tap device made for this VM */
  tap?: string;
}

/** The address the tiny image's /init gives a parent (QEMU's slirp default). */
export const PARENT_IP = '10.0.2.15';
export const USER_NET = { net: '10.0.0.0/8', host: '10.0.2.2', dns: '10.0.2.3', prefixLen: 8 } as const;
/** guest ports forwarded when a template names none: the demo web app and SSH */
export const DEFAULT_FORWARD_PORTS = [80, 22];

// ------------------------------------------------------------------------------------------------
// configuration

export interface NetConfig {
  mode: NetMode;
  bridge?: string;
  /** CIDR the addresses come from */
  pool: string;
  /** 127.0.0.1 ports handed out for forwarding, inclusive */
  portRange: [number, number];
}

/** The network settings (lib/config checks the variables' form; the pool's place is checked here). */
export function netConfig(env: NodeJS.ProcessEnv = process.env): NetConfig {
  const { mode, bridge, pool: given, portRange } = config(env).net;
  const pool = given ?? (mode === 'bridge' ? '10.77.0.0/16' : '10.1.0.0/16');
  parseCidr(pool, 'INSTACLONE_NET_POOL');
  if (mode === 'user' && !cidrInside(pool, USER_NET.net)) {
    throw new EngineError('invalid', `INSTACLONE_NET_POOL ${pool} must lie inside ${USER_NET.net} (the user-mode network).`);
  }
  return { mode, bridge, pool, portRange };
}

// ------------------------------------------------------------------------------------------------
// IPv4 helpers

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad IPv4 address ${ip}`);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
export function parseCidr(cidr: string, what = 'network'): { base: number; prefix: number; size: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  let base = NaN;
  try {
    base = m ? ipToInt(m[1]) : NaN;
  } catch {
    /* below */
  }
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || Number.isNaN(base) || prefix < 8 || prefix > 30) {
    throw new EngineError('invalid', `${what} "${cidr}" is not an IPv4 CIDR between /8 and /30 (like 10.1.0.0/16).`);
  }
  const size = 2 ** (32 - prefix);
  return { base: base - (base % size), prefix, size };
}
function cidrInside(inner: string, outer: string): boolean {
  const a = parseCidr(inner);
  const b = parseCidr(outer);
  return a.prefix >= b.prefix && a.base >= b.base && a.base + a.size <= b.base + b.size;
}

/** The addresses of a pool in allocation order, minus the reserved ones. */
function* poolAddresses(cfg: NetConfig): Generator<string> {
  const { base, size } = parseCidr(cfg.pool);
  const reserved = new Set<number>([base, base + size - 1]); // network, broadcast
  if (cfg.mode === 'user') {
    // slirp's own addresses and the parents' address
    for (const ip of [USER_NET.host, USER_NET.dns, PARENT_IP, '10.0.0.0', '10.255.255.255']) reserved.add(ipToInt(ip));
  } else {
    reserved.add(base + 1); // the bridge (gateway)
  }
  for (let i = 0; i < size; i++) {
    const n = base + i;
    if (reserved.has(n)) continue;
    if ((n & 255) === 0 || (n & 255) === 255) continue; // avoid .0/.255: some tools treat them as special
    yield intToIp(n);
  }
}

function gatewayFor(cfg: NetConfig): { gateway: string; prefixLen: number } {
  if (cfg.mode === 'user') return { gateway: USER_NET.host, prefixLen: USER_NET.prefixLen };
  const { base, prefix } = parseCidr(cfg.pool);
  return { gateway: intToIp(base + 1), prefixLen: prefix };
}

// ------------------------------------------------------------------------------------------------
// the store (database by default)

export interface NetworkStore {
  /** the ip leased to vmId, if any */
  leaseOf(vmId: string): Promise<string | null>;
  /** every leased ip */
  leasedIps(): Promise<Set<string>>;
  /** lease ip to vmId; false when the ip is taken (unique violation) */
  tryLease(ip: string, vmId: string): Promise<boolean>;
  release(vmId: string): Promise<void>;
  /** MACs and host ports of VMs the database knows as live (starting/running) other than vmId */
  liveUsage(exceptVmId: string): Promise<{ macs: Set<string>; ports: Set<number> }>;
}

export function memoryNetworkStore(): NetworkStore {
  const leases = new Map<string, string>(); // vmId -> ip
  return {
    async leaseOf(vmId) {
      return leases.get(vmId) ?? null;
    },
    async leasedIps() {
      return new Set(leases.values());
    },
    async tryLease(ip, vmId) {
      if ([...leases.values()].includes(ip) || leases.has(vmId)) return false;
      leases.set(vmId, ip);
      return true;
    },
    async release(vmId) {
      leases.delete(vmId);
    },
    async liveUsage() {
      return { macs: new Set(), ports: new Set() };
    },
  };
}

export function prismaNetworkStore(): NetworkStore {
  const client = async () => (await import('../db')).db();
  return {
    async leaseOf(vmId) {
      const l = await (await client()).lease.findUnique({ where: { vmId } });
      return l?.ip ?? null;
    },
    async leasedIps() {
      const rows = await (await client()).lease.findMany({ select: { ip: true } });
      return new Set(rows.map((r) => r.ip));
    },
    async tryLease(ip, vmId) {
      try {
        await (await client()).lease.create({ data: { ip, vmId } });
        return true;
      } catch (e) {
        if ((e as { code?: string }).code === 'P2002') return false;
        throw e;
      }
    },
    async release(vmId) {
      await (await client()).lease.deleteMany({ where: { vmId } });
    },
    async liveUsage(exceptVmId) {
      const rows = await (await client()).vm.findMany({
        where: { state: { in: ['starting', 'running'] }, id: { not: exceptVmId } },
        select: { mac: true, ports: true },
      });
      const macs = new Set<string>();
      const ports = new Set<number>();
      for (const r of rows) {
        if (r.mac) macs.add(r.mac.toLowerCase());
        try {
          for (const hp of Object.values(JSON.parse(r.ports || '{}') as Record<string, number>)) ports.add(Number(hp));
        } catch {
          /* a malformed ports column reserves nothing */
        }
      }
      return { macs, ports };
    },
  };
}

let store: NetworkStore | null = null;
export function setNetworkStore(s: NetworkStore | null): void {
  store = s;
}
function theStore(): NetworkStore {
  return (store ??= prismaNetworkStore());
}

// ------------------------------------------------------------------------------------------------
// in-process state: one allocation at a time (a 20-child fork allocates concurrently)

interface Held {
  mac: string;
  ports: number[];
  /** guest port -> host port, so a VM allocated again (reset, fork of its slot) keeps its ports */
  hostPorts: Record<number, number>;
  tap?: string;
}
interface NetState {
  held: Map<string, Held>;
  chain: Promise<unknown>;
}
const holder = globalThis as unknown as { __instacloneNet?: NetState };
const state: NetState = (holder.__instacloneNet ??= { held: new Map<string, Held>(), chain: Promise.resolve() });

function serialize<T>(fn: () => Promise<T>): Promise<T> {
  const run = state.chain.then(fn, fn);
  state.chain = run.catch(() => undefined);
  return run;
}

/** True when 127.0.0.1:port can be bound right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function randomMac(): string {
  const b = randomBytes(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

export interface AllocateOptions {
  /** guest ports to forward from 127.0.0.1 (user mode); default [80, 22] */
  forwardPorts?: number[];
  /** specific host ports wanted: guest port -> host port. A taken one is an error, not skipped. */
  hostPorts?: Record<number, number>;
  /**
   * host ports to keep when still usable (guest port -> host port): a VM's earlier ports (reset,
   * restart) or, with `bound`, the ones its own running QEMU already forwards (taken, by it)
   */
  reuse?: { ports: Record<number, number>; bound?: boolean };
  /** a parent keeps the image's own address (10.0.2.15 in user mode) and takes no lease */
  parent?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Gives vmId a MAC, an address (a lease; the same one again if vmId already holds one) and
 * forwarded host ports. Throws EngineError('insufficient') when the pool or the port range is
 * exhausted and EngineError('conflict') when a requested host port is taken.
 */
export function allocateNetwork(vmId: string, opts: AllocateOptions = {}): Promise<NetworkAllocation> {
  return serialize(async () => {
    const cfg = netConfig(opts.env);
    const st = theStore();
    const forward = [...new Set([...(opts.forwardPorts ?? DEFAULT_FORWARD_PORTS), ...Object.keys(opts.hostPorts ?? {}).map(Number)])];
    for (const gp of forward) {
      if (!Number.isInteger(gp) || gp < 1 || gp > 65535) throw new EngineError('invalid', `Guest port ${gp} is not a TCP port number (1-65535).`);
    }
    const prev = state.held.get(vmId);
    const live = await st.liveUsage(vmId);
    const usedPorts = new Set<number>(live.ports);
    const usedMacs = new Set<string>(live.macs);
    for (const [id, h] of state.held) {
      if (id === vmId) continue;
      h.ports.forEach((p) => usedPorts.add(p));
      usedMacs.add(h.mac);
    }

    // address
    const { gateway, prefixLen } = gatewayFor(cfg);
    let ip: string;
    let leased = false;
    if (opts.parent) {
      ip = PARENT_IP; // what the image's /init configures; children move to pool addresses
    } else {
      const existing = await st.leaseOf(vmId);
      if (existing) ip = existing;
      else {
        const taken = await st.leasedIps();
        let got: string | null = null;
        for (const cand of poolAddresses(cfg)) {
          if (taken.has(cand)) continue;
          if (await st.tryLease(cand, vmId)) {
            got = cand;
            break;
          }
        }
        if (!got) {
          throw new EngineError(
            'insufficient',
            `The address pool ${cfg.pool} is exhausted (${taken.size} addresses leased): remove children you no longer need, or set INSTACLONE_NET_POOL to a larger network.`,
          );
        }
        ip = got;
        leased = true;
      }
    }

    try {
      // MAC: keep the one already held, else random and unique among live VMs
      let mac = prev?.mac;
      if (!mac || usedMacs.has(mac)) {
        do mac = randomMac();
        while (usedMacs.has(mac));
      }

      // host ports (user mode only: bridged VMs are reached by their own address)
      const hostPorts: Record<number, number> = {};
      if (cfg.mode === 'user') {
        const mine = new Set<number>();
        for (const [gpStr, hp] of Object.entries(opts.hostPorts ?? {})) {
          const gp = Number(gpStr);
          if (!Number.isInteger(hp) || hp < 1 || hp > 65535) throw new EngineError('invalid', `Host port ${hp} is not a TCP port number (1-65535).`);
          const heldByMe = prev?.ports.includes(hp);
          if (usedPorts.has(hp) || mine.has(hp) || (!heldByMe && !(await portIsFree(hp)))) {
            throw new EngineError(
              'conflict',
              `Host port ${hp} (for guest port ${gp}) is already in use on 127.0.0.1: choose another port, or leave it out to get a free one.`,
            );
          }
          hostPorts[gp] = hp;
          mine.add(hp);
        }
        // keep this VM's earlier ports where possible: what QEMU already forwards, or what was shown
        const keep: Record<number, number> = { ...(prev?.hostPorts ?? {}), ...(opts.reuse?.ports ?? {}) };
        for (const gp of forward) {
          const hp = keep[gp];
          if (hostPorts[gp] || !hp || usedPorts.has(hp) || mine.has(hp)) continue;
          if (prev?.ports.includes(hp) || (opts.reuse?.bound && opts.reuse.ports[gp] === hp) || (await portIsFree(hp))) {
            hostPorts[gp] = hp;
            mine.add(hp);
          }
        }
        const [lo, hi] = cfg.portRange;
        // Start at a random place in the range: engines in other processes (other consoles, test
        // runs) scan the same range, and a port checked free is only taken once QEMU binds it.
        const span = hi - lo + 1;
        let offset = randomBytes(4).readUInt32BE(0) % span;
        for (const gp of forward) {
          if (hostPorts[gp]) continue;
          let found = 0;
          for (let tried = 0; tried < span; tried++, offset = (offset + 1) % span) {
            const candidate = lo + offset;
            if (usedPorts.has(candidate) || mine.has(candidate)) continue;
            if (prev?.ports.includes(candidate) || (await portIsFree(candidate))) {
              found = candidate;
              offset = (offset + 1) % span;
              break;
            }
          }
          if (!found) {
            throw new EngineError(
              'insufficient',
              `No free host port left in ${lo}-${hi} to forward guest port ${gp}: stop children you no longer need, or widen INSTACLONE_PORT_RANGE.`,
            );
          }
          hostPorts[gp] = found;
          mine.add(found);
        }
      }

      let tap = prev?.tap;
      if (cfg.mode === 'bridge' && !tap) tap = await createTap(vmId, cfg.bridge!);

      state.held.set(vmId, { mac, ports: Object.values(hostPorts), hostPorts, tap });
      const out: NetworkAllocation = { mac, ip, hostPorts, prefixLen: opts.parent ? 24 : prefixLen, gateway, mode: cfg.mode };
      if (tap) out.tap = tap;
      return out;
    } catch (e) {
      if (leased) await st.release(vmId).catch(() => undefined);
      throw e;
    }
  });
}

/** Frees vmId's lease, MAC, host ports and tap device. Safe to call twice. */
export function releaseNetwork(vmId: string): Promise<void> {
  return serialize(async () => {
    const h = state.held.get(vmId);
    state.held.delete(vmId);
    await theStore().release(vmId);
    let bridged = !!h?.tap;
    try {
      bridged ||= netConfig().mode === 'bridge';
    } catch {
      /* a bad environment does not stop a release */
    }
    if (bridged) await execFileP('ip', ipArgs(['link', 'del', h?.tap ?? tapName(vmId)])).catch(() => undefined);
  });
}

/** What this process currently holds (for tests and diagnostics). */
export function heldNetworks(): Map<string, { mac: string; ports: number[]; tap?: string }> {
  return new Map(state.held);
}

// ------------------------------------------------------------------------------------------------
// bridge mode: tap devices

/** `ip` arguments, inside INSTACLONE_NETNS when set (tests run bridged mode in their own namespace). */
function ipArgs(args: string[]): string[] {
  const ns = config().net.netns;
  return ns ? ['-n', ns, ...args] : args;
}

export function tapName(vmId: string): string {
  return 'ic' + createHash('sha256').update(vmId).digest('hex').slice(0, 12); // 14 chars (IFNAMSIZ 16)
}

async function createTap(vmId: string, bridge: string): Promise<string> {
  const tap = tapName(vmId);
  const run = async (args: string[]) => {
    try {
      await execFileP('ip', ipArgs(args));
    } catch (e) {
      const msg = ((e as { stderr?: string }).stderr || (e as Error).message).trim();
      throw new EngineError('internal', `Could not set up tap device ${tap} on bridge ${bridge} (ip ${args.join(' ')}: ${msg}); bridged networking needs root and an existing bridge named by INSTACLONE_BRIDGE.`);
    }
  };
  await execFileP('ip', ipArgs(['link', 'del', tap])).catch(() => undefined); // a leftover from a crash
  await run(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await run(['link', 'set', tap, 'master', bridge]);
  await run(['link', 'set', tap, 'up']);
  return tap;
}

// ------------------------------------------------------------------------------------------------
// QEMU arguments

/**
 * The -netdev/-device arguments for a VM's NIC (netdev id `net0`, virtio-net-pci). The engine's
 * argv builder appends them at the same place for parents and children (migration needs the same
 * devices in the same order, and the same netdev type: a template made in user mode has a slirp
 * section in its checkpoint).
 */
export function netdevArgs(
  n: { mac: string; ip: string; hostPorts: Record<number, number>; tap?: string },
  mode: NetMode = 'user',
  guestNet: GuestNet = 'isolated',
  /** the guest uses DHCP: the first address slirp's DHCP server hands out (argv.ts says which) */
  dhcpStart?: string,
): string[] {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(n.mac)) throw new EngineError('invalid', `"${n.mac}" is not a MAC address.`);
  ipToInt(n.ip);
  let netdev: string;
  if (mode === 'user') {
    const fwd = Object.entries(n.hostPorts)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([gp, hp]) => `,hostfwd=tcp:127.0.0.1:${Number(hp)}-${n.ip}:${Number(gp)}`)
      .join('');
    // restrict=on: the guest reaches nothing on or beyond the host (10.0.2.2 is the host's loopback:
    // the console, other VMs' forwarded ports, a local database); forwarded ports still come in
    const restrict = guestNet === 'isolated' ? ',restrict=on' : '';
    netdev = `user,id=net0,net=${USER_NET.net},host=${USER_NET.host},dns=${USER_NET.dns}${restrict}${dhcpStart ? `,dhcpstart=${intToIp(ipToInt(dhcpStart))}` : ''}${fwd}`;
  } else {
    if (!n.tap) throw new EngineError('invalid', 'bridge mode needs the tap device from allocateNetwork().');
    netdev = `tap,id=net0,ifname=${n.tap},script=no,downscript=no`;
  }
  return ['-netdev', netdev, '-device', `virtio-net-pci,netdev=net0,mac=${n.mac.toLowerCase()}`];
}
