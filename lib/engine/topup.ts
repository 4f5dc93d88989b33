// Background top-up of prelaunched slots: a fork that took K prelaunched slots of a template
// registers and launches K new ones afterwards, so the next fork again finds QEMUs waiting with
// -incoming defer instead of paying a QEMU start per child. Runs after the fork has returned, one
// top-up per template at a time; the template's removal and the engine's shutdown wait for it.
// Admitted like a fork by the system: only as many slots as admission control lets fit.
// INSTACLONE_SLOT_TOPUP=0 turns it off.
import { db } from '../db';
import { config } from '../config';
import { admitBackground } from './admission';
import type { Core } from './core';
import { registerSlots } from './templates';

interface State {
  pending: Map<string, Promise<void>>;
  /** templates being removed: no new slots for them */
  gone: Set<string>;
  stopped: boolean;
}

const states = new WeakMap<Core, State>();
function st(core: Core): State {
  let s = states.get(core);
  if (!s) states.set(core, (s = { pending: new Map(), gone: new Set(), stopped: false }));
  return s;
}

export const topUpEnabled = () => config().slotTopUp;

/** Queues `n` new prelaunched slots for the template (after any top-up already queued for it). */
export function topUpSlots(core: Core, templateId: string, n: number): void {
  const s = st(core);
  if (n <= 0 || !topUpEnabled() || s.stopped || s.gone.has(templateId)) return;
  const prev = s.pending.get(templateId) ?? Promise.resolve();
  const p: Promise<void> = prev
    .then(async () => {
      if (s.stopped || s.gone.has(templateId)) return;
      const tpl = await db().template.findUnique({ where: { id: templateId }, select: { state: true, name: true, memoryMiB: true } });
      if (tpl?.state !== 'frozen') return;
      // new slots are admitted like children (as many as fit; none when the host is full)
      const admission = await admitBackground({ id: templateId, name: tpl.name, memoryMiB: tpl.memoryMiB }, n);
      if (!admission) return;
      try {
        // registerSlots cleans up a slot that fails half-way; a failed top-up only means a slower next fork
        await registerSlots(core, templateId, admission.count, true);
      } finally {
        admission.release();
      }
    })
    .catch(() => undefined)
    .finally(() => {
      if (s.pending.get(templateId) === p) s.pending.delete(templateId);
    });
  s.pending.set(templateId, p);
}

/** Before a template's slots and files are removed: no more top-ups for it, and the running one done. */
export async function endTopUps(core: Core, templateId: string): Promise<void> {
  const s = st(core);
  s.gone.add(templateId);
  await s.pending.get(templateId);
}

/** Resolves when no top-up is running (tests and the bench wait for it before counting QEMUs). */
export async function topUpsSettled(core: Core): Promise<void> {
  const s = st(core);
  while (s.pending.size) await Promise.all([...s.pending.values()]);
}

/** Engine shutdown: no new top-ups, and the running ones finished (their slots are rows, adopted later). */
export async function stopTopUps(core: Core): Promise<void> {
  st(core).stopped = true;
  await topUpsSettled(core);
}

export function startTopUps(core: Core): void {
  st(core).stopped = false;
}
