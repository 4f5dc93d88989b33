// App-side types for what the console reads. Results of actions (fork, prepare, exec) and the state
// unions are the engine's own types (type-only imports, erased in the bundle); the list and detail
// records are reshaped at the API module boundary (lib/client/api/*): JSON-in-a-string columns parsed.
import type { Engine, ForkResult as EngineForkResult, LiveForkResult } from '@/lib/engine';
export type { VmState, TemplateState } from '@/lib/engine/states';
export type { Role } from '@/lib/auth/roles';
export type { PrepareResult } from '@/lib/engine';
import type { Role } from '@/lib/auth/roles';
import type { TemplateState, VmState } from '@/lib/engine/states';

export interface Identity {
  hostname?: string;
  mac?: string;
  ip?: string;
  machineId?: string;
  vmgenid?: string;
  verified?: boolean;
  [k: string]: unknown;
}

export interface Vm {
  id: string;
  name: string;
  /** the host it runs on (many hosts: an agent's name; single host: this console's) */
  host?: string;
  kind: 'parent' | 'child' | (string & {});
  state: VmState;
  persistent: boolean;
  templateId: string | null;
  pid: number | null;
  image?: string;
  memoryMiB?: number;
  vcpus?: number;
  hostname?: string | null;
  mac?: string | null;
  ip?: string | null;
  machineId?: string | null;
  vmgenid?: string | null;
  /** guest port -> host port */
  ports: Record<string, number>;
  identity: Identity;
  /** identity as read back from inside the guest after the fork (engine's VerifiedIdentity) */
  verified?: { clockSkewMs?: number; vmgenidReseedSeen?: boolean; entropyReseeded?: boolean; applyMs?: number; vmgenidInGuest?: string | null; [k: string]: unknown };
  lastSerial?: string | null;
  error?: string | null;
  createdAt?: string;
  startedAt?: string | null;
  stoppedAt?: string | null;
  forkMs?: number;
  /** it has a VGA device (imported images): its screen can be shown */
  display?: boolean;
  /** pool membership (lib/engine/pools): spare or claimed, and by whom */
  pool?: { pool: string; state: string; claimedBy: string | null; label: string | null } | null;
}

export interface Timings {
  bootMs?: number;
  warmupMs?: number;
  quiesceMs?: number;
  freezeMs?: number;
  pauseMs?: number;
  slotsMs?: number;
  [k: string]: number | undefined;
}

export interface WarmupResult {
  cmd: string;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  ms?: number;
}

export interface TemplateFile {
  name: string;
  path?: string;
  sizeBytes: number;
}

export interface Template {
  id: string;
  name: string;
  state: TemplateState;
  quiesced: boolean;
  parentId: string | null;
  sourceVmId?: string | null;
  image?: string;
  memoryMiB?: number;
  vcpus?: number;
  timings: Timings;
  warmup: WarmupResult[];
  files: TemplateFile[];
  slots: { total: number; free: number; used: number; prelaunched: number };
  error?: string | null;
  createdAt?: string;
  frozenAt?: string | null;
  /** guests without our resident helper: the compatibility report probed at prepare (lib/engine/compat.ts) */
  compat?: import('@/lib/engine').CompatReport | null;
}

export interface Ls {
  templates: Template[];
  vms: Vm[];
}

export interface Task {
  id: string;
  kind: string;
  state: 'running' | 'succeeded' | 'failed' | (string & {});
  targetId?: string | null;
  targetName?: string | null;
  actor?: string;
  progress: number;
  log: string;
  result?: unknown;
  error?: string | null;
  startedAt: string;
  endedAt?: string | null;
}

export interface LogEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  targetId?: string | null;
  targetName?: string | null;
  result: string;
  message?: string | null;
  durationMs?: number | null;
}

export interface VmMemory {
  id: string;
  name?: string;
  sharedBytes: number;
  privateBytes: number;
  pssBytes?: number;
  rssBytes?: number;
}

export interface Stats {
  vms: VmMemory[];
  totals: { sharedBytes: number; privateBytes: number; savedBytes: number };
  host?: { totalBytes?: number; availableBytes?: number };
}

export interface Health {
  ok: boolean;
  database: { ok: boolean; kind: string; error?: string };
  qemu: { ok: boolean; version?: string; binary: string; error?: string; warning?: string };
  kvm: { available: boolean; reason: string };
  memory?: { totalBytes: number; availableBytes: number };
  images: { name: string; kernel: string; sizeBytes: number; builtAt: string }[];
}

export interface Me {
  name: string;
  role: Role;
  kind?: string;
}

/** What GET /api/v1/images returns per image: the engine's own type (type-only import, erased in the bundle). */
export type { ImageView as Image, CompatReport, CompatLine, ImportedImage } from '@/lib/engine';

/** A fork's result; a live fork (a running VM forked) adds the source, the template made from that moment and its pause. */
export type ForkResult = EngineForkResult & Partial<Pick<LiveForkResult, 'source' | 'template' | 'pause' | 'snapshotMs'>>;
export type ForkChild = ForkResult['children'][number];

export type ExecResult = Awaited<ReturnType<Engine['exec']>>;

/** An engine event as it arrives on /api/events. */
export interface EngineEvent {
  type: string;
  at?: number;
  [k: string]: unknown;
}
