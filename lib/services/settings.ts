// Admission-control limits. Reading (viewer): the limits in force, the defaults, and the host facts they
// are checked against. Changing (admin): every attempt, applied or refused, is in the event log.
import { z } from 'zod';
import { require } from '../auth';
import { db } from '../db';
import { forkCapacity, hostFacts, measureUsage } from '../engine/admission';
import { DEFAULT_LIMITS, getLimits, setLimits } from '../engine/limits';
import { describeZodError } from '../validations';
import { settingsSchema } from '../validations/settings';
import { noInput, service, type Actor } from './service';

export const getSettings = service({
  role: 'viewer',
  input: noInput,
  run: async () => {
    const [limits, usage] = await Promise.all([getLimits(), measureUsage()]);
    // how many more non-persistent children of each frozen template would be admitted right now
    const capacity = [];
    for (const t of await db().template.findMany({ where: { state: 'frozen' }, orderBy: { createdAt: 'asc' } })) {
      const v = await forkCapacity(t);
      const binding = v.constraints.reduce((a, b) => (b.fits < a.fits ? b : a));
      capacity.push({
        templateId: t.id,
        name: t.name,
        fits: Number.isFinite(v.fits) ? v.fits : null,
        limitedBy: binding.name,
        perChild: { privateMiB: Math.round(v.child.privateMiB * 10) / 10, overlayMiB: Math.round(v.child.overlayMiB * 10) / 10, measured: v.child.measured, measuredOn: v.child.measuredOn },
      });
    }
    return { limits, defaults: DEFAULT_LIMITS, host: { ...hostFacts(), vmMemoryMiB: Math.round(usage.vmMemoryMiB) }, capacity };
  },
});

const log = (actor: string, result: 'ok' | 'error', message: string) =>
  db()
    .event.create({ data: { actor, action: 'settings', targetName: 'limits', result, message: message.slice(0, 2000) } })
    .catch(() => undefined);

const update = service({
  role: 'admin',
  input: settingsSchema,
  run: async (a, input) => {
    const before = await getLimits();
    const limits = await setLimits(input);
    const changed = Object.keys(input)
      .map((k) => `${k} ${JSON.stringify(before[k as keyof typeof before])} → ${JSON.stringify(limits[k as keyof typeof limits])}`)
      .join(', ');
    await log(a.name, 'ok', changed);
    return { limits, defaults: DEFAULT_LIMITS };
  },
});

/** Changes some limits; a refused change (bad input) is logged too, by the admin who tried it. */
export async function updateSettings(actor: Actor | null, raw?: unknown) {
  const who = require(actor, 'admin');
  try {
    return await update(who, raw);
  } catch (e) {
    if (e instanceof z.ZodError) await log(who.name, 'error', describeZodError(e));
    throw e;
  }
}
