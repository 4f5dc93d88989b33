// What an agent tells the cluster about its host: decides placement and whether a template's
// device state can load there (same QEMU version; same CPU model under KVM).
import os from 'node:os';
import { detectAccel } from '../engine/argv';
import { qemuVersion } from '../engine/qemu-version';

export interface HostFacts {
  cores: number;
  memoryBytes: number;
  qemuVersion: string;
  cpuModel: string;
  accel: string;
}

export function hostFacts(): HostFacts {
  const v = qemuVersion();
  if (!v) throw new Error('QEMU does not run on this host: install qemu-system-x86 before starting the agent.');
  return {
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    qemuVersion: v.version,
    cpuModel: os.cpus()[0]?.model?.trim() || 'unknown',
    accel: detectAccel(),
  };
}

/**
 * Why a template made on `from` cannot run on `to`, or null when it can. A checkpoint only loads into
 * the QEMU release that wrote it; under KVM the guest also saw the host CPU's features.
 */
export function replicaRefusal(from: HostFacts & { name: string }, to: HostFacts & { name: string }): string | null {
  if (from.qemuVersion !== to.qemuVersion) {
    return `Host "${to.name}" runs QEMU ${to.qemuVersion} but the template was made with QEMU ${from.qemuVersion} on "${from.name}": its device checkpoint cannot load there; install QEMU ${from.qemuVersion} on "${to.name}" or prepare the template there.`;
  }
  if ((from.accel === 'kvm' || to.accel === 'kvm') && (from.accel !== to.accel || from.cpuModel !== to.cpuModel)) {
    return `Host "${to.name}" (${to.accel}, ${to.cpuModel}) differs from "${from.name}" (${from.accel}, ${from.cpuModel}): a KVM checkpoint only loads on the same CPU model; prepare the template on "${to.name}".`;
  }
  return null;
}
