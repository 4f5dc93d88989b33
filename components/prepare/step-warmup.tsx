// Step 2: the warm-up commands run in the booted parent before the freeze, and the forwarded ports.
import { LIMITS } from '@/lib/validations';
import { Button } from '@/components/ui/button';
import { FIELD, type StepProps } from './form';
import { FieldError } from './field-error';

export function StepWarmup({ form, set, errors }: StepProps) {
  return (
    <fieldset className="space-y-3">
      <legend className="text-sm text-slate-400">
        Commands run in the booted parent through the guest agent, one after the other, before the freeze: start apps, load libraries into memory. Every child starts with their effects already in RAM. Each command&apos;s output is shown when the template is ready.
      </legend>
      {form.warmup.map((w, i) => (
        <div key={i} className="flex items-end gap-2">
          <label className="block flex-1 text-sm text-slate-300" htmlFor={`warmup-${i}`}>
            Warm-up command {i + 1}
            <input id={`warmup-${i}`} value={w} onChange={(e) => set('warmup', form.warmup.map((x, j) => (j === i ? e.target.value : x)))} className={`${FIELD} font-mono`} />
          </label>
          <Button aria-label={`Remove warm-up command ${i + 1}`} onClick={() => set('warmup', form.warmup.filter((_, j) => j !== i))}>
            Remove
          </Button>
        </div>
      ))}
      <Button onClick={() => set('warmup', [...form.warmup, ''])} disabled={form.warmup.length >= LIMITS.maxWarmups}>
        Add a command
      </Button>
      <FieldError errors={errors} k="warmup" />
      <label className="block text-sm text-slate-300" htmlFor="ports">
        Forwarded guest ports
        <input id="ports" value={form.ports} onChange={(e) => set('ports', e.target.value)} className={`${FIELD} font-mono`} inputMode="numeric" aria-invalid={!!errors.ports} aria-describedby="ports-help ports-error" />
        <span id="ports-help" className="mt-1 block text-xs text-slate-400">
          TCP ports inside the guest that every child gets forwarded from a free port on the host&apos;s 127.0.0.1 (a fork may choose others). Separate them with commas.
        </span>
        <FieldError errors={errors} k="ports" />
      </label>
    </fieldset>
  );
}
