// Admission control's arithmetic (pure: unit-tested with injected facts): whether a prepare, fork
// or cold boot fits the host, and how many children WOULD fit.
//
// What is checked (each gives "how many children fit"; the smallest wins):
//   memory       MemAvailable (/proc/meminfo) minus the host reserve (limits.minFreeMemoryMiB)
//   memoryShare  limits.maxMemoryShare × MemTotal minus what VMs already use
//                (QEMU anonymous memory of every VM + files on INSTACLONE_RUN when it is tmpfs)
//   run          free space on INSTACLONE_RUN (tmpfs: RAM files, non-persistent overlays) minus limits.minFreeRunMiB
//   home         free space on INSTACLONE_HOME (checkpoints, base/persistent disks, serial logs) minus limits.minFreeHomeMiB
//   templateLimit limits.maxChildrenPerTemplate minus the template's existing children (any state)
//
// What one child costs. A child maps its template's RAM file MAP_PRIVATE (share=off): pages it
// only reads stay shared with the template's file on tmpfs and cost nothing new; each page it
// writes becomes a private anonymous copy. So a child's marginal memory is its `Anonymous` memory
// in /proc/PID/smaps_rollup (copied guest pages + QEMU's own heap + the TCG translation buffer), not
// its RSS. When live children of the same template exist, their mean `Anonymous` is used (their PSS
// is reported alongside); otherwise DEFAULT_CHILD_PRIVATE_MIB (measured here under TCG with
// tb-size=32: 25-41 MiB per idle child). A non-persistent child's overlay lives on INSTACLONE_RUN;
// when that is tmpfs, the overlay is memory too and is added to the child's memory cost.
//
// A prepare costs the guest's whole RAM (the RAM file on tmpfs can grow to its full size) plus the
// parent QEMU's overhead, plus one child's cost per prelaunched slot; on INSTACLONE_HOME a checkpoint,
// the base disk and logs.
//
// A cold boot (`start` of a stopped persistent child) costs its whole guest RAM (anonymous memory,
// nothing shared) plus the QEMU overhead.
import { MiB, type DirFacts } from '../host-probe';
import type { Limits } from '../limits';
import { forkMessage, prepareMessage, startMessage } from './messages';

export { MiB, type DirFacts } from '../host-probe';


/** Private memory of one child when none of its siblings can be measured (TCG, tb-size=32, idle busybox guest: 25-41 MiB). */
export const DEFAULT_CHILD_PRIVATE_MIB = 40;
/** Space one non-persistent child's overlay takes on INSTACLONE_RUN when none can be measured (fresh qcow2 ~0.2 MiB + guest writes). */
export const DEFAULT_CHILD_OVERLAY_MIB = 8;
/** Space one child takes on INSTACLONE_HOME besides a persistent disk (serial log). */
export const CHILD_HOME_MIB = 1;
/** Private memory of a parent's QEMU besides guest RAM (TCG translation buffer, device models, ROMs). */
export const PARENT_OVERHEAD_MIB = 96;
/** INSTACLONE_HOME space for a template besides its base disk: checkpoint (~0.4 MiB here) and logs, with room to spare. */
export const TEMPLATE_HOME_MIB = 64;
/** Lower bounds on measured costs, so one just-started child does not make the estimate absurdly small. */
const MIN_MEASURED_PRIVATE_MIB = 8;
const MIN_MEASURED_OVERLAY_MIB = 1;

export interface HostFacts {
  memTotalMiB: number;
  memAvailableMiB: number;
  run: DirFacts;
  home: DirFacts;
}

export interface TemplateUsage {
  /** children of the template in the database, any state */
  children: number;
  /** live children measured (pid alive and ours) */
  measured: number;
  /** mean Anonymous MiB of the measured children, null when none */
  privateMiB: number | null;
  /** mean PSS MiB of the measured children (reported, not used for the estimate), null when none */
  pssMiB: number | null;
  /** mean allocated MiB of the non-persistent children's overlays, null when none */
  overlayMiB: number | null;
  /** mean allocated MiB of the persistent children's disks, null when none */
  persistentDiskMiB: number | null;
}

export interface Usage {
  /** what all VMs use now: QEMU anonymous memory + files on INSTACLONE_RUN when it is in memory (MiB) */
  vmMemoryMiB: number;
  template?: TemplateUsage;
}

export type AdmissionRequest =
  | {
      kind: 'fork';
      template: { id: string; name: string; memoryMiB: number };
      count: number;
      persistent?: boolean;
    }
  | {
      kind: 'start';
      name: string;
      memoryMiB: number;
    }
  | {
      kind: 'prepare';
      name: string;
      memoryMiB: number;
      slots?: number;
      prelaunch?: boolean;
      /** bytes of the base disk the template will keep in INSTACLONE_HOME (0 when unknown) */
      diskBytes?: number;
    };

export type ConstraintName = 'memory' | 'memoryShare' | 'run' | 'home' | 'templateLimit';

export interface Constraint {
  name: ConstraintName;
  /** children (fork) or prelaunched slots (prepare) that fit under this constraint; Infinity when it does not bind */
  fits: number;
  /** what is free under this constraint (MiB, or children for templateLimit) */
  available: number;
  /** what one child costs under this constraint (MiB, or 1 for templateLimit) */
  perChild: number;
}

export interface ChildCost {
  memoryMiB: number;
  privateMiB: number;
  overlayMiB: number;
  runMiB: number;
  homeMiB: number;
  /** true when measured on live siblings, false for the documented defaults */
  measured: boolean;
  measuredOn: number;
}

export interface Verdict {
  ok: boolean;
  /** fork: children that would fit now. prepare: prelaunched slots that fit once the parent fits (-1: the parent itself does not fit). */
  fits: number;
  requested: number;
  binding?: ConstraintName;
  message?: string;
  child: ChildCost;
  constraints: Constraint[];
  /** what the request as a whole would take (MiB) */
  need: { memoryMiB: number; runMiB: number; homeMiB: number };
}

export function childCost(req: { persistent?: boolean }, facts: HostFacts, t?: TemplateUsage): ChildCost {
  const measured = !!t && t.measured > 0 && t.privateMiB !== null;
  const privateMiB = measured ? Math.max(t!.privateMiB!, MIN_MEASURED_PRIVATE_MIB) : DEFAULT_CHILD_PRIVATE_MIB;
  let overlayMiB: number;
  if (req.persistent) overlayMiB = t?.persistentDiskMiB != null ? Math.max(t.persistentDiskMiB, MIN_MEASURED_OVERLAY_MIB) : DEFAULT_CHILD_OVERLAY_MIB;
  else overlayMiB = t?.overlayMiB != null ? Math.max(t.overlayMiB, MIN_MEASURED_OVERLAY_MIB) : DEFAULT_CHILD_OVERLAY_MIB;
  const runMiB = req.persistent ? 0 : overlayMiB;
  const homeMiB = CHILD_HOME_MIB + (req.persistent ? overlayMiB : 0);
  const memoryMiB = privateMiB + (facts.run.inMemory ? runMiB : 0) + (facts.home.inMemory ? homeMiB : 0);
  return { memoryMiB, privateMiB, overlayMiB, runMiB, homeMiB, measured, measuredOn: measured ? t!.measured : 0 };
}

const fitsIn = (available: number, per: number) => (per <= 0 ? Infinity : Math.max(0, Math.floor(available / per)));

/** Decides a request against host facts, limits and current usage. Never throws. */
export function evaluate(req: AdmissionRequest, facts: HostFacts, limits: Limits, usage: Usage): Verdict {
  const child = childCost({ persistent: req.kind === 'fork' ? req.persistent : false }, facts, usage.template);
  const memFree = facts.memAvailableMiB - limits.minFreeMemoryMiB;
  const shareFree = limits.maxMemoryShare * facts.memTotalMiB - usage.vmMemoryMiB;
  const runFree = facts.run.freeMiB - limits.minFreeRunMiB;
  const homeFree = facts.home.freeMiB - limits.minFreeHomeMiB;

  if (req.kind === 'fork') {
    const constraints: Constraint[] = [
      { name: 'memory', available: memFree, perChild: child.memoryMiB, fits: fitsIn(memFree, child.memoryMiB) },
      { name: 'memoryShare', available: shareFree, perChild: child.memoryMiB, fits: fitsIn(shareFree, child.memoryMiB) },
      { name: 'run', available: runFree, perChild: child.runMiB, fits: fitsIn(runFree, child.runMiB) },
      { name: 'home', available: homeFree, perChild: child.homeMiB, fits: fitsIn(homeFree, child.homeMiB) },
    ];
    if (limits.maxChildrenPerTemplate !== null) {
      const left = limits.maxChildrenPerTemplate - (usage.template?.children ?? 0);
      constraints.push({ name: 'templateLimit', available: left, perChild: 1, fits: Math.max(0, left) });
    }
    const binding = constraints.reduce((a, b) => (b.fits < a.fits ? b : a));
    const fits = binding.fits;
    const need = { memoryMiB: req.count * child.memoryMiB, runMiB: req.count * child.runMiB, homeMiB: req.count * child.homeMiB };
    const verdict: Verdict = { ok: fits >= req.count, fits, requested: req.count, child, constraints, need };
    if (!verdict.ok) {
      verdict.binding = binding.name;
      verdict.message = forkMessage(req, binding, child, facts, limits, usage);
    }
    return verdict;
  }

  if (req.kind === 'start') return evaluateStart(req, facts, limits, usage, child, memFree, shareFree);

  // prepare: first the parent, then as many prelaunched slots as asked
  const slots = req.slots ?? 0;
  const parentMem = req.memoryMiB + PARENT_OVERHEAD_MIB;
  const parentRun = req.memoryMiB; // the RAM file lives on INSTACLONE_RUN and can grow to the guest's RAM size
  const parentHome = TEMPLATE_HOME_MIB + (req.diskBytes ?? 0) / MiB;
  const slotMem = req.prelaunch ? child.memoryMiB : facts.run.inMemory ? child.runMiB : 0;
  const slotRun = child.runMiB;
  const slotHome = child.homeMiB;
  const parentShare = parentMem; // the RAM file is counted in vmMemoryMiB once it exists
  const constraints: Constraint[] = [
    { name: 'memory', available: memFree - parentMem, perChild: slotMem, fits: memFree < parentMem ? -1 : fitsIn(memFree - parentMem, slotMem) },
    { name: 'memoryShare', available: shareFree - parentShare, perChild: slotMem, fits: shareFree < parentShare ? -1 : fitsIn(shareFree - parentShare, slotMem) },
    { name: 'run', available: runFree - parentRun, perChild: slotRun, fits: runFree < parentRun ? -1 : fitsIn(runFree - parentRun, slotRun) },
    { name: 'home', available: homeFree - parentHome, perChild: slotHome, fits: homeFree < parentHome ? -1 : fitsIn(homeFree - parentHome, slotHome) },
  ];
  const binding = constraints.reduce((a, b) => (b.fits < a.fits ? b : a));
  const fits = binding.fits;
  const need = {
    memoryMiB: parentMem + slots * slotMem,
    runMiB: parentRun + slots * slotRun,
    homeMiB: parentHome + slots * slotHome,
  };
  const verdict: Verdict = { ok: fits >= slots, fits, requested: slots, child, constraints, need };
  if (!verdict.ok) {
    verdict.binding = binding.name;
    verdict.message = prepareMessage(req, binding, child, facts, limits, usage, { parentMem, parentHome, overheadMiB: PARENT_OVERHEAD_MIB });
  }
  return verdict;
}

function evaluateStart(
  req: { name: string; memoryMiB: number },
  facts: HostFacts,
  limits: Limits,
  usage: Usage,
  child: ChildCost,
  memFree: number,
  shareFree: number,
): Verdict {
  const mem = req.memoryMiB + PARENT_OVERHEAD_MIB;
  const constraints: Constraint[] = [
    { name: 'memory', available: memFree, perChild: mem, fits: fitsIn(memFree, mem) },
    { name: 'memoryShare', available: shareFree, perChild: mem, fits: fitsIn(shareFree, mem) },
  ];
  const binding = constraints.reduce((a, b) => (b.fits < a.fits ? b : a));
  const ok = binding.fits >= 1;
  const verdict: Verdict = { ok, fits: ok ? 1 : 0, requested: 1, child, constraints, need: { memoryMiB: mem, runMiB: 0, homeMiB: 0 } };
  if (!ok) {
    verdict.binding = binding.name;
    verdict.message = startMessage(req, PARENT_OVERHEAD_MIB, binding.name, facts, limits, usage);
  }
  return verdict;
}

