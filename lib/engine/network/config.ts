// Network settings and the fixed addresses of QEMU's user-mode network.
import { config } from '../../config';
import { EngineError } from '../errors';
import { cidrInside, parseCidr } from './ipv4';

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
