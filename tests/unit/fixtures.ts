// Shared unit-test values: a launch spec for the one argv builder and an identity plan.
import type { LaunchSpec, Role } from '../../lib/engine/argv';
import type { IdentityPlan } from '../../lib/engine/identity';

/** A tiny-image VM of `role` as the engine would launch it (paths and identity fixed). */
export const launchSpec = (role: Role, o: Partial<LaunchSpec> = {}): LaunchSpec => ({
  role,
  machine: { machine: 'pc', accel: 'tcg', cpu: 'max', memoryMiB: 256, vcpus: 1, kernel: '/img/vmlinuz', initrd: '/img/initrd', cmdline: 'console=ttyS0', tbSizeMiB: 32 },
  runDir: '/dev/shm/instaclone/vms/vm_0123456789ab',
  serialLog: '/var/lib/instaclone/vms/vm_0123456789ab/serial.log',
  ramPath: role === 'cold' ? undefined : '/dev/shm/instaclone/templates/tpl_0123456789ab/ram',
  diskPath: '/dev/shm/instaclone/vms/vm_0123456789ab/overlay.qcow2',
  net: { mac: '52:54:00:12:34:56', ip: '10.0.2.15', hostPorts: {} },
  vmgenid: '6f1c5b8e-3c8e-4b7a-9d7e-0a1b2c3d4e5f',
  name: 'web-1',
  ...o,
});

export const identityPlan: IdentityPlan = {
  hostname: 'web-1',
  mac: '52:54:00:ab:cd:01',
  ip: '10.1.0.7',
  machineId: '0123456789abcdef0123456789abcdef',
  vmgenid: '11111111-2222-3333-4444-555555555555',
};
