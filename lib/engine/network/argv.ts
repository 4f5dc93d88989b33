// A VM's NIC as QEMU arguments (user-mode slirp with its forwards, or the VM's tap device).
import { EngineError } from '../errors';
import { intToIp, ipToInt } from './ipv4';
import { USER_NET, type GuestNet, type NetMode } from './config';

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
