// THE one QEMU argv builder: parents, slots, children and cold-booted persistent children all
// come from here, so machine type, devices and their order always match (a mismatch breaks the
// checkpoint load). Only backends (RAM sharing, -incoming, sockets, net backend) differ by role.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { config } from '../config';
import { EngineError } from './errors';
import { intToIp, ipToInt, netdevArgs as identityNetdevArgs, type GuestNet } from './network';
import { hasReadonlyRam, hasRunWith, leanDevicesProven, qemuBinaryPath, qemuDataDirs, qemuVersion } from './qemu-version';
import { guestRamMergeable } from './ksm';

export type Accel = 'kvm' | 'tcg';

/**
 * Which legacy PC devices the machine has. 'standard' (absent: every template frozen before this
 * field) is QEMU's pc machine as is. 'lean' drops what a serial-console Linux guest booted with
 * -kernel never uses: HPET, the VMware port (and its vmmouse), the PS/2 controller (keyboard and
 * mouse) and the kvmvapic TPR-patching ROM. The device list is part of the checkpoint, so the
 * profile is fixed at prepare and every child of the template gets the same one.
 */
export type DeviceProfile = 'standard' | 'lean';

/** The machine a template was frozen with; recorded in Template.config and reused for every child. */
export interface MachineConfig {
  machine: 'pc';
  accel: Accel;
  cpu: string;
  memoryMiB: number;
  vcpus: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  tbSizeMiB: number;
  /** the legacy devices (see DeviceProfile); absent = 'standard' */
  devices?: DeviceProfile;
  /**
   * The resident identity channel: a second virtserialport org.instaclone.identity.0 on
   * identity.sock (see identity-channel.ts). Recorded per template so that templates frozen before
   * it existed (no such field) keep their device list and use the guest-agent path.
   */
  identityPort?: boolean;
  /** the parent's guest answered a probe on the identity port at prepare (its image serves it) */
  identityChannel?: boolean;
  /** what the guest may reach on user-mode networking (network.ts GuestNet); absent = isolated */
  guestNet?: GuestNet;
  /** the QEMU version that froze it ("7.2.22"): another QEMU's devices may not load its checkpoint */
  qemuVersion?: string;
  /**
   * How the guest starts: 'kernel' (absent: our images, -kernel/-initrd) or firmware from the disk
   * for imported images: 'bios' (SeaBIOS) or 'uefi' (OVMF code `ovmfCode`, a per-VM vars copy).
   */
  boot?: 'kernel' | 'bios' | 'uefi';
  ovmfCode?: string;
  /** a VGA device (imported images: many guests print only to the screen; QMP screendump reads it) */
  vga?: boolean;
  /** the guest takes its address by DHCP: user-mode net hands out the VM's own address (dhcpstart, see buildArgv) */
  dhcp?: boolean;
  /**
   * guest ports the template's children get forwarded from 127.0.0.1 by default (prepare --port);
   * not an argv device (host forwards are a slirp backend setting), absent on older templates: 80, 22
   */
  forwardPorts?: number[];
}

export interface NetSpec {
  mac: string;
  ip: string;
  hostPorts: Record<number, number>;
  tap?: string;
  mode?: 'user' | 'bridge';
}

export type Role =
  | 'parent' // booting an image, RAM share=on in the template's RAM file
  | 'child' // waits with -incoming defer, maps the template RAM file share=off (copy-on-write)
  | 'receiver' // a new parent that receives a running child's state (RAM share=on, -incoming defer)
  | 'cold'; // persistent child cold-booted from its own disk (anonymous RAM)

export interface LaunchSpec {
  role: Role;
  machine: MachineConfig;
  /** directory for qmp.sock, agent.sock, serial.sock and the pidfile (on tmpfs, mode 0700) */
  runDir: string;
  serialLog: string;
  ramPath?: string;
  diskPath: string;
  net: NetSpec;
  vmgenid: string;
  /** a VM name for `-name` (shows in ps) */
  name: string;
  /** the VM's own uid from the pool (qemu-uids.ts), set by vmm.launch; QEMU drops to it */
  uid?: number;
  /** uefi: this VM's own copy of the OVMF variable store (firmware.ts) */
  varsPath?: string;
}

export const sockets = (runDir: string) => ({
  qmp: path.join(runDir, 'qmp.sock'),
  agent: path.join(runDir, 'agent.sock'),
  serial: path.join(runDir, 'serial.sock'),
  identity: path.join(runDir, 'identity.sock'),
  pidfile: path.join(runDir, 'qemu.pid'),
});

export interface QemuUser {
  name: string;
  uid: number;
  gid: number;
}

let qemuUserCache: { run: string; user: QemuUser | null; refusal?: string } | undefined;

/** Whether `u` can search (x) every directory from / down to `dir` (QEMU reaches its run dir after dropping root). */
function canTraverse(dir: string, u: QemuUser): boolean {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const d = path.sep + parts.slice(0, i).join(path.sep);
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return false; // made later by the engine as root 0700
    }
    const ok = st.uid === u.uid ? st.mode & 0o100 : st.gid === u.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) return false;
  }
  return true;
}

/**
 * The unprivileged user QEMU drops to with `-runas` (after machine init: files and listening
 * sockets named on the command line are opened as root first). INSTACLONE_QEMU_USER names it
 * (default instaclone-qemu, created by scripts/setup.sh; empty = the operator accepts QEMU as
 * root). When the engine is root it fails closed: a missing user, or one that cannot reach
 * INSTACLONE_RUN, refuses the launch (one sentence) instead of leaving QEMU root. Not root: null.
 * Decided once per process (per run dir).
 */
export function qemuUser(): QemuUser | null {
  const run = config().run;
  if (!qemuUserCache || qemuUserCache.run !== run) qemuUserCache = decideQemuUser(run);
  if (qemuUserCache.refusal) throw new EngineError('conflict', qemuUserCache.refusal);
  return qemuUserCache.user;
}

function decideQemuUser(run: string): { run: string; user: QemuUser | null; refusal?: string } {
  const d: { run: string; user: QemuUser | null; refusal?: string } = { run, user: null };
  const name = config().qemu.user;
  if (!name || process.getuid?.() !== 0) return d;
  let u: QemuUser | null = null;
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] !== name || f.length < 4) continue;
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      if (Number.isInteger(uid) && Number.isInteger(gid) && uid !== 0) u = { name, uid, gid };
      break;
    }
  } catch {
    /* no /etc/passwd: run as today */
  }
  const optOut = 'or set INSTACLONE_QEMU_USER= (empty) to accept QEMU running as root.';
  if (!u) {
    d.refusal = `QEMU would run as root because the user ${name} does not exist: create it with "bash scripts/setup.sh" (as root), ${optOut}`;
  } else if (!canTraverse(path.dirname(path.resolve(run)), u)) {
    d.refusal = `QEMU would run as root because the user ${name} cannot reach ${run} (a directory above it is not searchable): move INSTACLONE_RUN, ${optOut}`;
  } else d.user = u;
  return d;
}

/** Tests only: forget the cached decision (after changing INSTACLONE_QEMU_USER). */
export function resetQemuUserCache(): void {
  qemuUserCache = undefined;
}

let accelCache: Accel | null = null;

/**
 * KVM when /dev/kvm is usable and a KVM guest really runs here, else TCG.
 * INSTACLONE_ACCEL=tcg|kvm forces one. On some nested hosts /dev/kvm exists and a KVM QEMU starts,
 * but the guest stalls (seen here: SeaBIOS stops after its memory map, a -kernel guest prints
 * nothing), so the probe runs SeaBIOS with no disk and waits for its "No bootable device" on the
 * debug console: a working KVM says it at once (TCG takes ~0.6 s), a stalled one never (5 s cap).
 */
export function detectAccel(): Accel {
  const forced = config().qemu.accel;
  if (forced) return forced;
  if (accelCache) return accelCache;
  accelCache = 'tcg';
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    // seen here: /dev/kvm opens and a KVM QEMU starts and runs its BIOS, yet a Linux guest never
    // prints a line, on a CPU that exposes no VT-x/AMD-V. Without those flags, no KVM.
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'))) return accelCache;
    const r = spawnSync(
      qemuBinaryPath(),
      // boot fails at once (no disk), SeaBIOS resets instead of waiting (reboot-timeout=0), QEMU exits (-no-reboot)
      ['-accel', 'kvm', '-cpu', 'host', '-machine', 'pc', '-nodefaults', '-no-user-config', '-display', 'none', '-boot', 'reboot-timeout=0', '-no-reboot', '-chardev', 'stdio,id=dbg', '-device', 'isa-debugcon,iobase=0x402,chardev=dbg'],
      { timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (/No bootable device|Booting from/.test(r.stdout ?? '')) accelCache = 'kvm';
  } catch {
    /* no usable /dev/kvm */
  }
  return accelCache;
}

/** TCG translation cache per QEMU (MiB); INSTACLONE_TB_SIZE overrides. Its touched pages are private to each child. */
export function tcgCacheMiB(): number {
  return config().qemu.tbSizeMiB;
}

/**
 * A new template's machine. `legacyFree`: its image declares it needs none of the legacy devices
 * (lib/guest/images.ts), so it gets the 'lean' profile on a QEMU where lean is proven
 * (qemu-version.ts leanDevicesProven), unless INSTACLONE_DEVICES says otherwise.
 */
export function defaultMachine(m: { memoryMiB: number; vcpus: number; kernel: string; initrd: string; cmdline: string }, legacyFree = false): MachineConfig {
  const accel = detectAccel();
  const v = qemuVersion();
  const qemu = v?.version;
  const devices = config().qemu.devices ?? (legacyFree && leanDevicesProven(v) ? 'lean' : 'standard');
  return { machine: 'pc', accel, cpu: accel === 'kvm' ? 'host' : 'max', tbSizeMiB: tcgCacheMiB(), identityPort: true, ...(devices === 'lean' ? { devices } : {}), ...(qemu ? { qemuVersion: qemu } : {}), ...m };
}

/**
 * The machine and global options of a device profile: the one place that decides them, for
 * parents, slots and children alike. (`smbus=off` was tried: on QEMU 7.2's pc machine it leaves
 * the SMBus EEPROMs in place, so it is not used.)
 */
export function deviceProfileArgs(profile: DeviceProfile = 'standard'): string[] {
  if (profile === 'standard') return ['-machine', 'pc'];
  return ['-machine', 'pc,hpet=off,vmport=off,i8042=off', '-global', 'apic-common.vapic=off'];
}

export function netdevArgs(n: NetSpec & { dhcpStart?: string }, guestNet?: GuestNet): string[] {
  return identityNetdevArgs(n, n.mode ?? 'user', guestNet, n.dhcpStart);
}

export function buildArgv(s: LaunchSpec): string[] {
  const m = s.machine;
  const sk = sockets(s.runDir);
  const a: string[] = [
    '-name', `instaclone-${s.name},debug-threads=off`,
    ...deviceProfileArgs(m.devices),
    '-accel', m.accel === 'kvm' ? 'kvm' : `tcg,tb-size=${m.tbSizeMiB}`,
    '-cpu', m.cpu,
    '-m', `${m.memoryMiB}M`,
    '-smp', String(m.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
  ];
  // a QEMU unpacked into its own prefix must load its own firmware, not the system QEMU's
  for (const d of qemuDataDirs()) a.push('-L', d);
  // INSTACLONE_KSM=off: the guest RAM is not madvised mergeable (QEMU's default is `merge=on`)
  const size = `size=${m.memoryMiB}M${guestRamMergeable() ? '' : ',merge=off'}`;
  if (s.role === 'cold') {
    a.push('-object', `memory-backend-ram,id=ram0,${size}`);
  } else {
    if (!s.ramPath) throw new Error('buildArgv: ramPath is required for this role');
    // parent/receiver: share=on writes go to the template file. child: share=off is MAP_PRIVATE,
    // the host kernel copies a 4 KiB page on the child's first write. From QEMU 8.2 the child also
    // opens the file O_RDONLY (`readonly=on,rom=off`: still a writable private mapping), so no
    // child can write the template file, root included. (7.2's readonly=on maps PROT_READ, which a
    // guest write would fault on.)
    const share = s.role === 'child' ? 'off' : 'on';
    const ro = s.role === 'child' && hasReadonlyRam(qemuVersion()) ? ',readonly=on,rom=off' : '';
    a.push('-object', `memory-backend-file,id=ram0,${size},mem-path=${s.ramPath},share=${share}${ro},prealloc=off`);
  }
  a.push('-machine', 'memory-backend=ram0');
  if (m.boot === 'uefi') {
    if (!m.ovmfCode || !s.varsPath) throw new Error('buildArgv: a uefi machine needs ovmfCode and varsPath');
    a.push(
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${m.ovmfCode}`,
      // the vars store is written by the guest: like the data disk, keep the fd QEMU opened as root
      // (7.2 reopens an inactivated drive by path at the end of a migration, as the dropped uid)
      '-drive', `if=pflash,format=raw,unit=1,file=${s.varsPath}${qemuUser() ? ',file.auto-read-only=off' : ''}`,
    );
  } else if (m.boot !== 'bios') {
    a.push('-kernel', m.kernel, '-initrd', m.initrd, '-append', m.cmdline);
  }
  a.push(
    '-chardev', `socket,id=ser0,path=${sk.serial},server=on,wait=off,logfile=${s.serialLog},logappend=on`,
    '-serial', 'chardev:ser0',
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `socket,id=ga0,path=${sk.agent},server=on,wait=off`,
    '-device', 'virtserialport,bus=vser0.0,chardev=ga0,name=org.qemu.guest_agent.0',
  );
  if (m.identityPort) {
    a.push(
      '-chardev', `socket,id=id0,path=${sk.identity},server=on,wait=off`,
      '-device', 'virtserialport,bus=vser0.0,chardev=id0,name=org.instaclone.identity.0',
    );
  }
  // With -runas, QEMU cannot reopen the (root-owned) disk by path after init; -drive's default
  // auto-read-only=on reopens it O_RDONLY when a migration inactivates it, so keep the first fd.
  const u = qemuUser();
  a.push(
    '-drive', `file=${s.diskPath},if=none,id=data0,format=qcow2,cache=writeback,discard=unmap${u ? ',file.auto-read-only=off' : ''}`,
    '-device', 'virtio-blk-pci,drive=data0,id=vblk0',
  );
  // DHCP guests: slirp's lease table is part of the migrated state, so a child resumes with the
  // parent's lease in entry 0 (entry i is dhcpstart + i): start the child's range one below its own
  // address, and its new MAC gets exactly that address (seen: dhcpstart=ip gave ip + 1)
  const dhcpStart = m.dhcp ? (s.role === 'child' ? intToIp(ipToInt(s.net.ip) - 1) : s.net.ip) : undefined;
  a.push(...netdevArgs({ ...s.net, dhcpStart }, m.guestNet));
  // last on the PCI bus, so the NIC keeps its slot (and the guest its predictable name, ens4)
  if (m.vga) a.push('-device', 'VGA,id=vga0');
  a.push('-device', `vmgenid,guid=${s.vmgenid}`);
  a.push('-qmp', `unix:${sk.qmp},server=on,wait=off`);
  // seccomp: no fork/exec (spawn=deny: QEMU is not daemonized, process.ts). elevateprivileges=deny
  // forbids the setuid of -runas/-run-with (SIGSYS in 7.2), so only when QEMU keeps the engine's user.
  a.push('-sandbox', `on,obsolete=deny,resourcecontrol=deny,spawn=deny${u ? '' : ',elevateprivileges=deny'}`);
  // drop to the VM's own pool uid (in the QEMU user's group) after init; what QEMU opens later
  // (migration sockets) lives in the run dir, which vmm.ts hands to that uid (mode stays 0700)
  if (u) {
    const who = s.uid !== undefined ? `${s.uid}:${u.gid}` : u.name;
    // QEMU 9.1 replaced -runas (gone in 10) by -run-with user=
    a.push(...(hasRunWith(qemuVersion()) ? ['-run-with', `user=${who}`] : ['-runas', who]));
  }
  if (s.role === 'child' || s.role === 'receiver') a.push('-incoming', 'defer');
  return a;
}
