// The device profile (lib/engine/argv.ts): one function decides the machine's legacy devices for
// every role, so a parent, its slots and its children always match; 'standard' (and templates with
// no such field) keep QEMU's pc machine exactly as before; new templates get 'lean' only from an
// image that declares it needs none of them and a QEMU where lean is proven (7.x), unless
// INSTACLONE_DEVICES says otherwise.
import { afterEach, describe, expect, it } from 'vitest';
import type { MachineConfig, Role } from '@/lib/engine/argv';
import { launchSpec } from './fixtures';

process.env.INSTACLONE_QEMU_USER = ''; // argv without -runas: this file checks devices, not users
process.env.INSTACLONE_ACCEL = 'tcg';
const { buildArgv, defaultMachine, deviceProfileArgs, resetQemuUserCache } = await import('@/lib/engine/argv');
const { legacyFree } = await import('@/lib/engine/image');
const { qemuBinaryPath, resetQemuVersionCache } = await import('@/lib/engine/qemu-version');
resetQemuUserCache();
const onQemu = (version: string) => resetQemuVersionCache(qemuBinaryPath(), `QEMU emulator version ${version} (test)`);

const machine = (o: Partial<MachineConfig> = {}): MachineConfig => ({ machine: 'pc', accel: 'tcg', cpu: 'max', memoryMiB: 256, vcpus: 1, kernel: '/img/vmlinux', initrd: '/img/initrd', cmdline: 'console=ttyS0', tbSizeMiB: 32, ...o });
const spec = (role: Role, m: MachineConfig) => launchSpec(role, { machine: m });
/** The device-defining part of an argv: -machine/-global options and every -device, in order. */
const devices = (a: string[]) => a.flatMap((x, i) => (['-machine', '-global', '-device'].includes(a[i - 1] ?? '') && !x.startsWith('vmgenid') ? [`${a[i - 1]} ${x}`] : []));
const roles: Role[] = ['parent', 'child', 'receiver', 'cold'];

afterEach(() => {
  delete process.env.INSTACLONE_DEVICES;
});

describe('device profile', () => {
  it('standard, and a template frozen before the field existed, is the pc machine as before', () => {
    expect(deviceProfileArgs('standard')).toEqual(['-machine', 'pc']);
    expect(deviceProfileArgs(undefined)).toEqual(['-machine', 'pc']);
    expect(devices(buildArgv(spec('child', machine())))).toEqual(devices(buildArgv(spec('child', machine({ devices: 'standard' })))));
    expect(buildArgv(spec('child', machine())).join(' ')).not.toMatch(/hpet|vmport|i8042|vapic/);
  });

  it('lean turns off HPET, the VMware port, PS/2 and kvmvapic, the same for every role', () => {
    const lean = roles.map((r) => devices(buildArgv(spec(r, machine({ devices: 'lean' })))));
    expect(lean[0]).toContain('-machine pc,hpet=off,vmport=off,i8042=off');
    expect(lean[0]).toContain('-global apic-common.vapic=off');
    for (const d of lean) expect(d).toEqual(lean[0]);
    // and nothing else of the device list changes: the virtio devices keep their order
    const std = devices(buildArgv(spec('child', machine())));
    expect(lean[1].filter((x) => x.startsWith('-device'))).toEqual(std.filter((x) => x.startsWith('-device')));
  });

  it('new templates: lean only for an image that declares it (tiny), on a QEMU where it is proven, unless INSTACLONE_DEVICES says otherwise', () => {
    onQemu('7.2.22');
    expect(legacyFree('tiny')).toBe(true);
    expect(legacyFree('debian')).toBe(false);
    expect(legacyFree('my-imported-disk')).toBe(false);
    const m = { memoryMiB: 256, vcpus: 1, kernel: 'k', initrd: 'i', cmdline: 'c' };
    expect(defaultMachine(m, true).devices).toBe('lean');
    expect(defaultMachine(m, false).devices).toBeUndefined();
    process.env.INSTACLONE_DEVICES = 'standard';
    expect(defaultMachine(m, true).devices).toBeUndefined();
    process.env.INSTACLONE_DEVICES = 'lean';
    expect(defaultMachine(m, false).devices).toBe('lean');
    process.env.INSTACLONE_DEVICES = 'auto';
    expect(defaultMachine(m, true).devices).toBe('lean');
    // QEMU 10: a lean child's clock fell behind (not proven there): standard unless asked for
    onQemu('10.0.2');
    expect(defaultMachine(m, true).devices).toBeUndefined();
    process.env.INSTACLONE_DEVICES = 'lean';
    expect(defaultMachine(m, true).devices).toBe('lean');
    resetQemuVersionCache();
  });
});
