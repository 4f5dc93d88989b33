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
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { EngineError } from '../errors';
import { DEFAULT_FORWARD_PORTS, netConfig, PARENT_IP, type NetworkAllocation } from './config';
import { gatewayFor, poolAddresses } from './ipv4';
import { theStore } from './store';
import { createTap, deleteTap, tapName } from './tap';

export * from './config';
export { intToIp, ipToInt, parseCidr } from './ipv4';
export { memoryNetworkStore, prismaNetworkStore, setNetworkStore, type NetworkStore } from './store';
export { tapName } from './tap';
export { netdevArgs } from './argv';

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
    if (bridged) await deleteTap(h?.tap ?? tapName(vmId));
  });
}

/** What this process currently holds (for tests and diagnostics). */
export function heldNetworks(): Map<string, { mac: string; ports: number[]; tap?: string }> {
  return new Map(state.held);
}
