// The types the console reads. What the server sends is the engine's own types (lib/contract.ts,
// type-only: erased from the bundle); nothing here copies a server shape. The only console-made
// shape is Stats: per-VM memory in bytes, derived from the engine's KiB figures (api/host.ts).
export type {
  Ls,
  Vm,
  VmView,
  Template,
  VmDetail,
  TemplateDetail,
  VerifiedIdentity,
  Timings,
  WarmupRecord,
  Task,
  LogEvent,
  Health,
  Me,
  ExecResult,
  Role,
  VmState,
  TemplateState,
  PrepareResult,
  ForkResult,
  ForkChild,
  ImageView as Image,
  ImportedImage,
  CompatReport,
  CompatLine,
  EngineEvent,
  StreamEvent,
} from '@/lib/contract';

/** One VM's memory as the console shows it (bytes), derived from the engine's smaps_rollup KiB figures. */
export interface VmMemory {
  id: string;
  name: string;
  sharedBytes: number;
  privateBytes: number;
  pssBytes?: number;
  rssBytes?: number;
}

export interface Stats {
  vms: VmMemory[];
  totals: { sharedBytes: number; privateBytes: number; savedBytes: number };
  host: { totalBytes: number; availableBytes: number };
}
