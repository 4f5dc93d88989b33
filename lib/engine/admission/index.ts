// Admission control: before a prepare, fork or cold boot launches anything, check that the host can
// hold it and refuse with EngineError('insufficient') — saying how many children WOULD fit — instead
// of letting the host swap or the OOM killer choose. The arithmetic is cost.ts, the sentences
// messages.ts, the measurements usage.ts; here: admitted requests hold a reservation (in this process)
// until their operation ends, so two forks started together cannot both take the last free memory.
import { db } from '../../db';
import { EngineError } from '../errors';
import { getLimits, type Limits } from '../limits';
import { checkQuota } from '../quotas';
import { evaluate, type AdmissionRequest, type HostFacts, type Usage, type Verdict } from './cost';
import { hostFacts, measureUsage } from './usage';

export * from './cost';
export { hostFacts, measureUsage } from './usage';
export { allocatedBytes, dirFacts, processMemory, readMeminfo } from '../host-probe';

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
  /** the engine's own background work: a refusal is not logged (the engine does without) */
  quiet?: boolean;
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
    if (opts.quiet) return e;
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

/**
 * The engine's own background launches (a template's reset spare, slot top-ups): admitted like a
 * fork of `count` children by the system, so they count against memory like any child and never
 * take what an operator's fork was admitted for. Asks for fewer when not all fit; null when none
 * does (the engine then does without: a slower reset or fork, no error). The caller releases the
 * reservation once the QEMUs run (from then on they are measured).
 */
export async function admitBackground(template: { id: string; name: string; memoryMiB: number }, count: number, opts: Pick<AdmissionOptions, 'facts' | 'limits' | 'usage'> = {}): Promise<(Admission & { count: number }) | null> {
  for (let n = count; n >= 1; ) {
    try {
      return { ...(await checkAdmission({ kind: 'fork', template, count: n }, { ...opts, owner: 'system', quiet: true })), count: n };
    } catch (e) {
      if (!(e instanceof EngineError) || e.code !== 'insufficient') throw e;
      n = Math.min(n - 1, Math.max(0, (e.details as Verdict | undefined)?.fits ?? 0));
    }
  }
  return null;
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
