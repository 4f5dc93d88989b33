// What the console's server sends (REST JSON, server-action results), typed from the engine's own
// types: client components, server actions and the CLI import these as types only (erased from every
// bundle), so nothing is copied by hand and a field the UI reads is one the engine sends.
import type { VmView as EngineVmView, ForkResult as EngineForkResult, LiveForkResult, Listing, LogEvent as EngineLogEvent, OperationView, TemplateDetail as EngineTemplateDetail, VmDetail as EngineVmDetail, Engine } from './engine';
import type { HealthReport } from './health';
import type { whoAmI } from './services/reads';

/** A value as it arrives over JSON: Dates become ISO strings. */
export type Wire<T> = T extends Date ? string : T extends (infer U)[] ? Wire<U>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

/** `ls` (GET /api/v1/ls): templates and VMs; a VM and a template row as listed. */
export type Ls = Wire<Listing>;
export type Vm = Ls['vms'][number];
export type Template = Ls['templates'][number];
/** DESIGN.md's fields of a VM, common to a listed VM and its detail (what action predicates need). */
export type VmView = Wire<EngineVmView>;

/** GET /api/v1/vms/VM and /templates/T. */
export type VmDetail = Wire<EngineVmDetail>;
export type TemplateDetail = Wire<EngineTemplateDetail>;
/** The identity as read back from inside a child after its fork. */
export type VerifiedIdentity = NonNullable<VmDetail['verified']>;
/** A template's prepare timings (bootMs, warmupMs, freezeMs, pauseMs, …). */
export type Timings = TemplateDetail['timings'];
export type WarmupRecord = TemplateDetail['warmup'][number];

/** An operation (task): GET /api/v1/tasks, /tasks/ID, /operations/ID. */
export type Task = Wire<OperationView>;
/** One entry of the event log (GET /api/v1/log). */
export type LogEvent = Wire<EngineLogEvent>;

export type HostStats = Wire<Awaited<ReturnType<Engine['stats']>>>;
export type Health = HealthReport;
/** A fork's result; a live fork (a running VM forked) adds its source, the template made from that moment and its pause. */
export type ForkResult = EngineForkResult & Partial<Pick<LiveForkResult, 'source' | 'template' | 'pause' | 'snapshotMs'>>;
export type ForkChild = ForkResult['children'][number];
export type ExecResult = Awaited<ReturnType<Engine['exec']>>;
/** GET /api/v1/me: who is signed in, with which role. */
export type Me = Awaited<ReturnType<typeof whoAmI>>;

export type { VmState, TemplateState, VmKind } from './engine/states';
/** What /api/events sends (engine events and the stream's frames) and the serial console's stream. */
export type { EngineEvent, EngineEventKind, StreamEvent, TaskEvent, SerialChunk } from './engine/events';
export type { Role } from './auth/roles';
export type { PrepareResult, LiveForkResult, ImageView, ImportedImage, CompatReport, CompatLine, ClaimResult, PoolView, PoolMembership } from './engine';
