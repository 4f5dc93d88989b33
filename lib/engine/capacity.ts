// What the Settings page shows: the admission limits in force, the host facts they are checked
// against, and how many more non-persistent children of each frozen template would be admitted now.
import { db } from '../db';
import { forkCapacity, hostFacts, measureUsage } from './admission';
import { DEFAULT_LIMITS, getLimits } from './limits';

const r1 = (n: number) => Math.round(n * 10) / 10;

export async function capacityView() {
  const [limits, usage] = await Promise.all([getLimits(), measureUsage()]);
  const capacity = [];
  for (const t of await db().template.findMany({ where: { state: 'frozen' }, orderBy: { createdAt: 'asc' } })) {
    const v = await forkCapacity(t);
    const binding = v.constraints.reduce((a, b) => (b.fits < a.fits ? b : a));
    capacity.push({
      templateId: t.id,
      name: t.name,
      fits: Number.isFinite(v.fits) ? v.fits : null,
      limitedBy: binding.name,
      perChild: { privateMiB: r1(v.child.privateMiB), overlayMiB: r1(v.child.overlayMiB), measured: v.child.measured, measuredOn: v.child.measuredOn },
    });
  }
  return { limits, defaults: DEFAULT_LIMITS, host: { ...hostFacts(), vmMemoryMiB: Math.round(usage.vmMemoryMiB) }, capacity };
}
