// Admission control: before a prepare or a fork launches anything, check that the host can hold
// it, and refuse with EngineError('insufficient') — saying how many children WOULD fit — instead of
// letting the host swap or the OOM killer choose.
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
// Concurrent requests: an admitted request reserves what it was admitted for, in this process, until
// `release()` is called when the operation ends (however long a big fork or a prepare takes), so two
// forks started together cannot both take the last free memory.
//
// A cold boot (`start` of a stopped persistent child) costs its whole guest RAM (anonymous memory,
// nothing shared) plus the QEMU overhead.
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { db } from '../db';
import { EngineError } from './errors';
import { getLimits, type Limits } from './limits';
import { checkQuota } from './quotas';

const MiB = 1024 * 1024;

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

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export interface DirFacts {
  path: string;
  freeMiB: number;
  totalMiB: number;
  /** tmpfs/ramfs: files here are RAM */
  inMemory: boolean;
}

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

// ---------------------------------------------------------------------------------------------
// The arithmetic (pure: unit-tested with injected facts)

const round = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : String(round(n)));

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
    verdict.message = prepareMessage(req, binding, child, facts, limits, usage, { parentMem, parentHome });
  }
  return verdict;
}

function wouldFit(n: number): string {
  return n <= 0 ? 'none would fit now' : `about ${n} would fit`;
}

function costPhrase(child: ChildCost, t?: TemplateUsage): string {
  if (child.measured) {
    const pss = t?.pssMiB != null ? `, PSS ~${fmt(t.pssMiB)} MiB` : '';
    return `~${fmt(child.privateMiB)} MiB private per child measured on ${child.measuredOn} live ${child.measuredOn === 1 ? 'child' : 'children'}${pss}`;
  }
  return `~${fmt(child.privateMiB)} MiB private per child, default estimate`;
}

function forkMessage(
  req: Extract<AdmissionRequest, { kind: 'fork' }>,
  c: Constraint,
  child: ChildCost,
  facts: HostFacts,
  limits: Limits,
  usage: Usage,
): string {
  const n = req.count;
  const of = `${n} ${n === 1 ? 'child' : 'children'} of ${req.template.name}`;
  const fit = wouldFit(c.fits);
  const cost = costPhrase(child, usage.template);
  const overlay = child.runMiB > 0 && facts.run.inMemory ? ` + ~${fmt(child.runMiB)} MiB overlay on tmpfs` : '';
  switch (c.name) {
    case 'memory':
      return (
        `Not enough memory for ${of} (${req.template.memoryMiB} MiB each, ${cost}${overlay}): ${fit}. ` +
        `${fmt(facts.memAvailableMiB)} MiB is available and ${limits.minFreeMemoryMiB} MiB stays free for the host. Fork fewer or free memory.`
      );
    case 'memoryShare':
      return (
        `Forking ${of} would take VMs past ${Math.round(limits.maxMemoryShare * 100)}% of host memory ` +
        `(VMs use ${fmt(usage.vmMemoryMiB)} MiB of ${fmt(limits.maxMemoryShare * facts.memTotalMiB)} MiB allowed; ${req.template.memoryMiB} MiB each, ${cost}${overlay}): ${fit}. ` +
        `Fork fewer, remove VMs, or raise the memory share in Settings.`
      );
    case 'run':
      return (
        `Not enough space on INSTACLONE_RUN (${facts.run.path}${facts.run.inMemory ? ', tmpfs' : ''}) for ${of} ` +
        `(~${fmt(child.runMiB)} MiB overlay each${child.measured ? '' : ', default estimate'}; ${fmt(facts.run.freeMiB)} MiB free, ${limits.minFreeRunMiB} MiB kept free): ${fit}. ` +
        `Fork fewer, remove children, or give INSTACLONE_RUN more space.`
      );
    case 'home':
      return (
        `Not enough disk space on INSTACLONE_HOME (${facts.home.path}) for ${of} ` +
        `(~${fmt(child.homeMiB)} MiB each; ${fmt(facts.home.freeMiB)} MiB free, ${limits.minFreeHomeMiB} MiB kept free): ${fit}. ` +
        `Fork fewer, remove children or templates, or free disk space.`
      );
    case 'templateLimit': {
      const has = usage.template?.children ?? 0;
      return (
        `${req.template.name} already has ${has} ${has === 1 ? 'child' : 'children'} and the limit is ${limits.maxChildrenPerTemplate} per template, ` +
        `so ${of} cannot be forked: ${fit}. Fork fewer, remove children, or raise the limit in Settings.`
      );
    }
  }
}

function prepareMessage(
  req: Extract<AdmissionRequest, { kind: 'prepare' }>,
  c: Constraint,
  child: ChildCost,
  facts: HostFacts,
  limits: Limits,
  usage: Usage,
  p: { parentMem: number; parentHome: number },
): string {
  const slots = req.slots ?? 0;
  const parentFits = c.fits >= 0;
  const slotsPart = slots
    ? ` with ${slots} ${req.prelaunch ? 'prelaunched ' : ''}slot${slots === 1 ? '' : 's'}`
    : '';
  const then = parentFits
    ? `the parent fits but only ${c.fits} of the ${slots} slots would. Ask for fewer slots${req.prelaunch ? ' or do not prelaunch them' : ''}, or`
    : 'it does not fit at all.';
  const tail = parentFits ? '' : c.name === 'home' ? '' : ' Prepare with less memory, or';
  switch (c.name) {
    case 'memory':
      return (
        `Not enough memory to prepare ${req.name}${slotsPart} (${req.memoryMiB} MiB guest RAM + ~${PARENT_OVERHEAD_MIB} MiB QEMU overhead` +
        `${req.prelaunch && slots ? `, ~${fmt(child.memoryMiB)} MiB per prelaunched slot` : ''}): ${then}${tail} free memory ` +
        `(${fmt(facts.memAvailableMiB)} MiB available, ${limits.minFreeMemoryMiB} MiB stays free for the host).`
      );
    case 'memoryShare':
      return (
        `Preparing ${req.name}${slotsPart} would take VMs past ${Math.round(limits.maxMemoryShare * 100)}% of host memory ` +
        `(VMs use ${fmt(usage.vmMemoryMiB)} MiB of ${fmt(limits.maxMemoryShare * facts.memTotalMiB)} MiB allowed; this needs ~${fmt(p.parentMem)} MiB): ${then}${tail} remove VMs or raise the memory share in Settings.`
      );
    case 'run':
      return (
        `Not enough space on INSTACLONE_RUN (${facts.run.path}${facts.run.inMemory ? ', tmpfs' : ''}) to prepare ${req.name}${slotsPart} ` +
        `(its RAM file can grow to ${req.memoryMiB} MiB; ${fmt(facts.run.freeMiB)} MiB free, ${limits.minFreeRunMiB} MiB kept free): ${then}${tail} give INSTACLONE_RUN more space or remove templates.`
      );
    case 'home':
      return (
        `Not enough disk space on INSTACLONE_HOME (${facts.home.path}) to prepare ${req.name}${slotsPart} ` +
        `(~${fmt(p.parentHome)} MiB for its checkpoint and base disk; ${fmt(facts.home.freeMiB)} MiB free, ${limits.minFreeHomeMiB} MiB kept free): ${then}${parentFits ? '' : ' Free'}${parentFits ? ' free' : ''} disk space or remove templates.`
      );
    default:
      return `Cannot prepare ${req.name}: ${c.name}.`;
  }
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
    const cost = `its ${req.memoryMiB} MiB guest RAM + ~${PARENT_OVERHEAD_MIB} MiB QEMU overhead`;
    verdict.message =
      binding.name === 'memory'
        ? `Not enough memory to start ${req.name} (a cold boot takes ${cost}; ${fmt(facts.memAvailableMiB)} MiB available, ${limits.minFreeMemoryMiB} MiB stays free for the host): stop or remove VMs, then start it again.`
        : `Starting ${req.name} would take VMs past ${Math.round(limits.maxMemoryShare * 100)}% of host memory (VMs use ${fmt(usage.vmMemoryMiB)} MiB of ${fmt(limits.maxMemoryShare * facts.memTotalMiB)} MiB allowed; a cold boot takes ${cost}): stop or remove VMs, or raise the memory share in Settings.`;
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------
// Facts from the host

export function readMeminfo(text = fs.readFileSync('/proc/meminfo', 'utf8')): { memTotalMiB: number; memAvailableMiB: number } {
  const get = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  const memTotalMiB = get('MemTotal');
  let memAvailableMiB = get('MemAvailable');
  if (Number.isNaN(memAvailableMiB)) memAvailableMiB = get('MemFree') + get('Cached'); // kernels < 3.14
  return { memTotalMiB, memAvailableMiB };
}

/** statfs of `dir`, or of its nearest existing ancestor when it does not exist yet. */
export function dirFacts(dir: string): DirFacts {
  let p = path.resolve(dir);
  for (;;) {
    try {
      const s = fs.statfsSync(p);
      return {
        path: dir,
        freeMiB: (s.bavail * s.bsize) / MiB,
        totalMiB: (s.blocks * s.bsize) / MiB,
        inMemory: s.type === TMPFS_MAGIC || s.type === RAMFS_MAGIC,
      };
    } catch {
      const up = path.dirname(p);
      if (up === p) return { path: dir, freeMiB: 0, totalMiB: 0, inMemory: false };
      p = up;
    }
  }
}

export function hostFacts(): HostFacts {
  const cfg = config();
  return { ...readMeminfo(), run: dirFacts(cfg.run), home: dirFacts(cfg.home) };
}

/** `Anonymous` and `Pss` of a process in MiB (smaps_rollup), or null when it is gone or unreadable. */
export function processMemory(pid: number): { anonymousMiB: number; pssMiB: number; rssMiB: number } | null {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const get = (k: string) => {
      const m = new RegExp(`^${k}:\\s+(\\d+)\\s*kB`, 'm').exec(t);
      return m ? Number(m[1]) / 1024 : 0;
    };
    return { anonymousMiB: get('Anonymous'), pssMiB: get('Pss'), rssMiB: get('Rss') };
  } catch {
    return null;
  }
}

/** Bytes really allocated by a file or a tree (st_blocks: sparse RAM files count only their written pages). */
export function allocatedBytes(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.blocks * 512;
  let sum = 0;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(p);
  } catch {
    return 0;
  }
  for (const e of entries) sum += allocatedBytes(path.join(p, e));
  return sum;
}

function isQemuFor(pid: number, runDir: string): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes(runDir + '/') || cmd.includes(runDir + '\0');
  } catch {
    return false;
  }
}

/** Every live process whose command line is a QEMU mentioning `dir` (our VMs and slots). */
function qemuPidsUnder(dir: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(dir + '/')) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export async function measureUsage(templateId?: string): Promise<Usage> {
  const cfg = config();
  const run = dirFacts(cfg.run);
  let vmMemoryMiB = 0;
  for (const pid of qemuPidsUnder(cfg.run)) vmMemoryMiB += processMemory(pid)?.anonymousMiB ?? 0;
  if (run.inMemory) vmMemoryMiB += allocatedBytes(cfg.run) / MiB;
  if (!templateId) return { vmMemoryMiB };

  const children = await db().vm.findMany({ where: { templateId, kind: 'child' } });
  const priv: number[] = [];
  const pss: number[] = [];
  const overlays: number[] = [];
  const disks: number[] = [];
  for (const c of children) {
    if (c.pid && c.state === 'running' && isQemuFor(c.pid, c.runDir)) {
      const m = processMemory(c.pid);
      if (m) {
        priv.push(m.anonymousMiB);
        pss.push(m.pssMiB);
      }
    }
    if (c.diskPath && fs.existsSync(c.diskPath)) (c.persistent ? disks : overlays).push(allocatedBytes(c.diskPath) / MiB);
  }
  return {
    vmMemoryMiB,
    template: {
      children: children.length,
      measured: priv.length,
      privateMiB: mean(priv),
      pssMiB: mean(pss),
      overlayMiB: mean(overlays),
      persistentDiskMiB: mean(disks),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reservations (in this process) for requests admitted but not yet materialized

interface Reservation {
  memoryMiB: number;
  runMiB: number;
  homeMiB: number;
  children: number;
  templateId?: string;
}
const holder = globalThis as unknown as { __instacloneAdmission?: Set<Reservation> };
const reservations = (holder.__instacloneAdmission ??= new Set());

function pending(templateId?: string) {
  const sum = { memoryMiB: 0, runMiB: 0, homeMiB: 0, children: 0 };
  for (const r of reservations) {
    sum.memoryMiB += r.memoryMiB;
    sum.runMiB += r.runMiB;
    sum.homeMiB += r.homeMiB;
    if (templateId && r.templateId === templateId) sum.children += r.children;
  }
  return sum;
}

export interface Admission extends Verdict {
  /** gives back what this request reserved (call when the prepare/fork has finished, either way) */
  release(): void;
}

export interface AdmissionOptions {
  /** who asked (for the event log entry of a refusal) */
  actor?: string;
  /** whose quota the request counts against (lib/engine/quotas.ts); default: the actor */
  owner?: string;
  facts?: HostFacts;
  limits?: Limits;
  usage?: Usage;
}

/**
 * Checks a prepare or fork against the host and the operator's limits; throws
 * EngineError('insufficient', …) that says how many children would fit. Call before anything is
 * launched. Facts, limits and usage can be injected (tests); by default they are read now.
 */
export async function checkAdmission(req: AdmissionRequest, opts: AdmissionOptions = {}): Promise<Admission> {
  if (req.kind === 'fork' && (!Number.isInteger(req.count) || req.count < 1)) {
    throw new EngineError('invalid', `The child count must be a whole number of at least 1, not ${req.count}.`);
  }
  const templateId = req.kind === 'fork' ? req.template.id : undefined;
  const facts = opts.facts ?? hostFacts();
  const limits = opts.limits ?? (await getLimits());
  const usage = opts.usage ?? (await measureUsage(templateId));
  // what other admitted requests in this process are about to take
  const p = pending(templateId);
  const adjFacts: HostFacts = {
    ...facts,
    memAvailableMiB: facts.memAvailableMiB - p.memoryMiB,
    run: { ...facts.run, freeMiB: facts.run.freeMiB - p.runMiB },
    home: { ...facts.home, freeMiB: facts.home.freeMiB - p.homeMiB },
  };
  const adjUsage: Usage = {
    vmMemoryMiB: usage.vmMemoryMiB + p.memoryMiB,
    template: usage.template && { ...usage.template, children: usage.template.children + p.children },
  };
  const v = evaluate(req, adjFacts, limits, adjUsage);
  // the refusal goes to the event log (who, what, result) like any other failed action
  const refuse = async (e: EngineError) => {
    await db()
      .event.create({
        data: {
          actor: opts.actor ?? 'system',
          action: req.kind,
          targetId: req.kind === 'fork' ? req.template.id : undefined,
          targetName: req.kind === 'fork' ? req.template.name : req.name,
          result: 'error',
          message: `refused by ${e.code === 'quota' ? 'quota' : 'admission control'}: ${e.message}`.slice(0, 2000),
        },
      })
      .catch(() => undefined);
    return e;
  };
  if (!v.ok) throw await refuse(new EngineError('insufficient', v.message!, v));
  // reserved before any further await: a concurrent request evaluates with this one counted
  const r: Reservation = {
    memoryMiB: v.need.memoryMiB,
    runMiB: v.need.runMiB,
    homeMiB: v.need.homeMiB,
    children: req.kind === 'fork' ? req.count : 0,
    templateId,
  };
  reservations.add(r);
  const n = req.kind === 'fork' ? req.count : 1;
  const memoryMiB = (req.kind === 'fork' ? req.template.memoryMiB : req.memoryMiB) * n;
  const releaseQuota = await checkQuota(opts.owner ?? opts.actor, { children: req.kind === 'fork' ? n : 0, memoryMiB }).catch(async (e) => {
    reservations.delete(r);
    throw await refuse(e);
  });
  return {
    ...v,
    release: () => {
      reservations.delete(r);
      releaseQuota();
    },
  };
}

/** How many children of a template would fit now (for the fork dialog), with the binding constraint. */
export async function forkCapacity(template: { id: string; name: string; memoryMiB: number }, persistent = false): Promise<Verdict> {
  const facts = hostFacts();
  const limits = await getLimits();
  const usage = await measureUsage(template.id);
  return evaluate({ kind: 'fork', template, count: Number.MAX_SAFE_INTEGER, persistent }, facts, limits, usage);
}

/** Drops every reservation (tests). */
export function clearReservations(): void {
  reservations.clear();
}
