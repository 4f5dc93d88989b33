// Admission control's refusals: one sentence each, saying what does not fit, how many would, and
// what to do (the figures come from cost.ts's verdict).
import type { Limits } from '../limits';
import type { AdmissionRequest, ChildCost, Constraint, ConstraintName, HostFacts, TemplateUsage, Usage } from './cost';

const round = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : String(round(n)));

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

export function forkMessage(
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

export function prepareMessage(
  req: Extract<AdmissionRequest, { kind: 'prepare' }>,
  c: Constraint,
  child: ChildCost,
  facts: HostFacts,
  limits: Limits,
  usage: Usage,
  p: { parentMem: number; parentHome: number; overheadMiB: number },
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
        `Not enough memory to prepare ${req.name}${slotsPart} (${req.memoryMiB} MiB guest RAM + ~${p.overheadMiB} MiB QEMU overhead` +
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

/** Why a cold boot does not fit. */
export function startMessage(req: { name: string; memoryMiB: number }, overheadMiB: number, binding: ConstraintName, facts: HostFacts, limits: Limits, usage: Usage): string {
  const cost = `its ${req.memoryMiB} MiB guest RAM + ~${overheadMiB} MiB QEMU overhead`;
  return binding === 'memory'
    ? `Not enough memory to start ${req.name} (a cold boot takes ${cost}; ${fmt(facts.memAvailableMiB)} MiB available, ${limits.minFreeMemoryMiB} MiB stays free for the host): stop or remove VMs, then start it again.`
    : `Starting ${req.name} would take VMs past ${Math.round(limits.maxMemoryShare * 100)}% of host memory (VMs use ${fmt(usage.vmMemoryMiB)} MiB of ${fmt(limits.maxMemoryShare * facts.memTotalMiB)} MiB allowed; a cold boot takes ${cost}): stop or remove VMs, or raise the memory share in Settings.`;
}
