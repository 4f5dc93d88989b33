// IPv4 arithmetic: addresses as numbers, CIDR pools, the addresses a pool hands out and its gateway.
import { EngineError } from '../errors';
import { PARENT_IP, USER_NET, type NetConfig } from './config';

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
export function cidrInside(inner: string, outer: string): boolean {
  const a = parseCidr(inner);
  const b = parseCidr(outer);
  return a.prefix >= b.prefix && a.base >= b.base && a.base + a.size <= b.base + b.size;
}

/** The addresses of a pool in allocation order, minus the reserved ones. */
export function* poolAddresses(cfg: NetConfig): Generator<string> {
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

export function gatewayFor(cfg: NetConfig): { gateway: string; prefixLen: number } {
  if (cfg.mode === 'user') return { gateway: USER_NET.host, prefixLen: USER_NET.prefixLen };
  const { base, prefix } = parseCidr(cfg.pool);
  return { gateway: intToIp(base + 1), prefixLen: prefix };
}
