// Step 5: everything chosen, and whatever the last check refused.
import { parsePorts } from '@/lib/client/ports';
import { ErrorNote } from '@/components/ui/misc';
import type { StepProps } from './form';

export function StepReview({ form, errors }: Omit<StepProps, 'set'>) {
  return (
    <div className="space-y-2 text-sm" data-testid="prepare-review">
      <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1">
        <dt className="text-slate-400">Name</dt>
        <dd>{form.name}</dd>
        <dt className="text-slate-400">Image</dt>
        <dd>
          {form.image}, {form.memory} MiB, {form.vcpus} vCPU
        </dd>
        <dt className="text-slate-400">Warm-up</dt>
        <dd className="font-mono text-xs">{form.warmup.filter((w) => w.trim()).join(' ; ') || 'none'}</dd>
        <dt className="text-slate-400">Forwarded ports</dt>
        <dd className="font-mono text-xs">{parsePorts(form.ports).join(', ') || 'none'}</dd>
        <dt className="text-slate-400">Quiesce</dt>
        <dd>{form.quiesce ? 'yes (persistent children allowed)' : 'no (non-persistent children only)'}</dd>
        <dt className="text-slate-400">Parent</dt>
        <dd>{form.keepParent ? 'keeps running after the freeze' : 'frozen into the template'}</dd>
        <dt className="text-slate-400">Slots</dt>
        <dd>
          {form.slots || 0}
          {form.prelaunch ? ', prelaunched' : ''}
        </dd>
      </dl>
      {Object.entries(errors).map(([k, v]) => (
        <ErrorNote key={k} error={`${k}: ${v}`} />
      ))}
      <p className="text-slate-400">Under TCG (no KVM) this takes tens of seconds.</p>
    </div>
  );
}
