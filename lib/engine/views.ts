// What the engine sends about VMs and templates: the `ls` rows and the detail views (GET /api/v1/vms/VM,
// /templates/T). These types are the contract: REST, server actions, the console and the CLI use them
// (over JSON through lib/contract's Wire<>), so a field the UI reads is one the engine sends.
import type { CompatReport } from './compat';
import type { TemplateRow, VmRow } from './core';
import type { VerifiedIdentity } from './identity/plan';
import type { ProcMemory } from './metrics';
import { TEMPLATE_STATES, VM_STATES, type TemplateState, type VmKind, type VmState } from './states';
import type { WarmupRecord } from './templates';

/** A state column as the closed union (the engine is its only writer; anything else reads as failed). */
export const vmState = (s: string): VmState => (VM_STATES as readonly string[]).includes(s) ? (s as VmState) : 'failed';
export const templateState = (s: string): TemplateState => (TEMPLATE_STATES as readonly string[]).includes(s) ? (s as TemplateState) : 'failed';
const vmKind = (k: string): VmKind => (k === 'parent' ? 'parent' : 'child');

/** A JSON text column, parsed; `fallback` when empty or unreadable. */
export function fromJson<T>(s: string | null | undefined, fallback: T): T {
  if (!s) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

/** DESIGN.md's `ls` fields of a VM (also the answer of stop/start/reset). */
export interface VmView {
  id: string;
  name: string;
  kind: VmKind;
  state: VmState;
  persistent: boolean;
  templateId: string | null;
  pid: number | null;
}

export const vmView = (v: VmRow): VmView => ({ id: v.id, name: v.name, kind: vmKind(v.kind), state: vmState(v.state), persistent: v.persistent, templateId: v.templateId, pid: v.pid });

/** A VM's pool membership (lib/engine/pools): spare or claimed, and by whom. */
export interface PoolMembership {
  pool: string;
  state: string;
  claimedBy: string | null;
  label: string | null;
}

/** One VM of `ls`: DESIGN.md's fields plus what a console shows (additive). */
export interface VmListRow extends VmView {
  hostname: string | null;
  ip: string | null;
  /** guest port -> host port, as QEMU really forwards them */
  ports: Record<string, number>;
  pool: PoolMembership | null;
  /** the host it runs on (single host: this console's) */
  host: string;
  createdAt: Date;
  /** many hosts: set when its host was lost (lib/cluster) */
  lostAt?: Date | string;
  lostReason?: string;
}

export function vmListRow(v: VmRow, pool: PoolMembership | null, host: string): VmListRow {
  return { ...vmView(v), hostname: v.hostname, ip: v.ip, ports: fromJson(v.ports, {}), pool, host, createdAt: v.createdAt };
}

/** One template of `ls`. */
export interface TemplateListRow {
  id: string;
  name: string;
  state: TemplateState;
  quiesced: boolean;
  parentId: string | null;
  /** the running VM it was made from (live fork, prepare from a child): the lineage tree hangs it there */
  sourceVmId: string | null;
  image: string;
  /** many hosts: the hosts holding a replica */
  hosts?: string[];
}

export function templateListRow(t: TemplateRow): TemplateListRow {
  return { id: t.id, name: t.name, state: templateState(t.state), quiesced: t.quiesced, parentId: t.parentId, sourceVmId: t.sourceVmId, image: t.image };
}

export interface Listing {
  templates: TemplateListRow[];
  vms: VmListRow[];
}

export interface VmIdentityFields {
  hostname: string | null;
  mac: string | null;
  ip: string | null;
  machineId: string | null;
  vmgenid: string | null;
}

/** GET /api/v1/vms/VM. */
export interface VmDetail extends VmView {
  type: 'vm';
  host: string;
  image: string;
  memoryMiB: number;
  vcpus: number;
  identity: VmIdentityFields;
  /** the identity as read back from inside the guest after the fork; null before */
  verified: VerifiedIdentity | null;
  ports: Record<string, number>;
  pool: PoolMembership | null;
  lastSerial: string | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  stoppedAt: Date | null;
  memory: ProcMemory | null;
  /** a VGA device (imported images): its screen can be seen with GET …/screen */
  display: boolean;
}

export function vmDetail(vm: VmRow, x: { host: string; pool: PoolMembership | null; memory: ProcMemory | null; display: boolean }): VmDetail {
  return {
    type: 'vm',
    ...vmView(vm),
    host: x.host,
    image: vm.image,
    memoryMiB: vm.memoryMiB,
    vcpus: vm.vcpus,
    identity: { hostname: vm.hostname, mac: vm.mac, ip: vm.ip, machineId: vm.machineId, vmgenid: vm.vmgenid },
    verified: fromJson<VerifiedIdentity | null>(vm.identity, null),
    ports: fromJson(vm.ports, {}),
    pool: x.pool,
    lastSerial: vm.lastSerial,
    error: vm.error,
    createdAt: vm.createdAt,
    startedAt: vm.startedAt,
    stoppedAt: vm.stoppedAt,
    memory: x.memory,
    display: x.display,
  };
}

/** GET /api/v1/templates/T. */
export interface TemplateDetail extends Omit<TemplateListRow, 'hosts'> {
  type: 'template';
  memoryMiB: number;
  vcpus: number;
  /** guest ports forwarded to its children unless a fork names others */
  ports: number[];
  files: { ram: string; state: string; disk: string };
  checksums: Record<string, string> | null;
  warmup: WarmupRecord[];
  /** bootMs, warmupMs, freezeMs, pauseMs, … as the prepare measured them */
  timings: Record<string, number>;
  compat: CompatReport | null;
  slots: { total: number; prelaunched: number };
  children: VmView[];
  error: string | null;
  createdAt: Date;
  frozenAt: Date | null;
}

export function templateDetail(t: TemplateRow, x: { ports: number[]; slots: { prelaunched: boolean }[]; children: VmRow[] }): TemplateDetail {
  return {
    type: 'template',
    ...templateListRow(t),
    memoryMiB: t.memoryMiB,
    vcpus: t.vcpus,
    ports: x.ports,
    files: { ram: t.ramPath, state: t.statePath, disk: t.diskPath },
    checksums: fromJson(t.checksums, null),
    warmup: fromJson(t.warmup, []),
    timings: fromJson(t.timings, {}),
    compat: t.compat && t.compat !== '{}' ? fromJson(t.compat, null) : null,
    slots: { total: x.slots.length, prelaunched: x.slots.filter((s) => s.prelaunched).length },
    children: x.children.map(vmView),
    error: t.error,
    createdAt: t.createdAt,
    frozenAt: t.frozenAt,
  };
}
