// Step 4: slots registered ahead of time, and whether their VMMs are launched now.
import { LIMITS } from '@/lib/validations';
import { FIELD, type StepProps } from './form';
import { FieldError } from './field-error';

export function StepSlots({ form, set, errors }: StepProps) {
  return (
    <div className="grid gap-4 md:grid-cols-2">
      <label className="block text-sm text-slate-300" htmlFor="slots">
        Slots to pre-register
        <input id="slots" type="number" min={0} max={LIMITS.maxSlots} value={form.slots} onChange={(e) => set('slots', e.target.value)} className={FIELD} aria-invalid={!!errors.slots} aria-describedby="slots-help slots-error" />
        <span id="slots-help" className="mt-1 block text-xs text-slate-400">
          A slot is a child registered ahead of time (config and overlay ready), so a fork only loads state and goes.
        </span>
        <FieldError errors={errors} k="slots" />
      </label>
      <div className="text-sm text-slate-300">
        <label className="flex items-center gap-2" htmlFor="prelaunch">
          <input id="prelaunch" type="checkbox" checked={form.prelaunch} onChange={(e) => set('prelaunch', e.target.checked)} aria-describedby="prelaunch-help" />
          Prelaunch the slots&apos; VMMs
        </label>
        <span id="prelaunch-help" className="mt-1 block text-xs text-slate-400">
          Starts each slot&apos;s QEMU now, waiting for incoming state: fastest forks, but each costs a process and some memory while idle.
        </span>
        <FieldError errors={errors} k="prelaunch" />
      </div>
    </div>
  );
}
