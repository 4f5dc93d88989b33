// Admission-control limits. GET (viewer): the limits in force, the defaults, and the host facts
// they are checked against. PUT (admin): change some limits; every attempt (applied or refused) is
// written to the event log with who, what and the result.
import { readJson, route } from '@/lib/api/handler';
import { forkCapacity, hostFacts, measureUsage } from '@/lib/engine/admission';
import { DEFAULT_LIMITS, getLimits, setLimits } from '@/lib/engine/limits';
import { db } from '@/lib/db';
import { describeZodError } from '@/lib/validations';
import { settingsSchema } from '@/lib/validations/settings';
import { z } from 'zod';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => {
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
});

const log = (actor: string, result: 'ok' | 'error', message: string) =>
  db()
    .event.create({ data: { actor, action: 'settings', targetName: 'limits', result, message: message.slice(0, 2000) } })
    .catch(() => undefined);

export const PUT = route('admin', async ({ req, principal }) => {
  let input;
  try {
    input = settingsSchema.parse(await readJson(req));
  } catch (e) {
    await log(principal.name, 'error', e instanceof z.ZodError ? describeZodError(e) : (e as Error).message);
    throw e;
  }
  const before = await getLimits();
  const limits = await setLimits(input);
  const changed = Object.keys(input)
    .map((k) => `${k} ${JSON.stringify(before[k as keyof typeof before])} → ${JSON.stringify(limits[k as keyof typeof limits])}`)
    .join(', ');
  await log(principal.name, 'ok', changed);
  return { limits, defaults: DEFAULT_LIMITS };
});
