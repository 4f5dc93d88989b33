'use client';
// Prepare wizard: image and size → warm-up commands → quiesce → slots → review (one component per
// step); then the prepare's server action answers its operation's id at once and PrepareRun follows
// that id (boot with the parent's live serial console → warm-up → quiesce → freeze → slots → done).
// The id goes into the address (?operation=ID), so a reload or a return finds the same run.
// Every input is labelled; Enter moves on; the whole wizard works with the keyboard alone.
import { useEffect, useMemo, useRef, useState } from 'react';
import { prepareSchema, type PrepareInput } from '@/lib/validations';
import { prepareAction } from '@/app/actions/templates';
import { useAction } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { useImages, useLs } from '@/lib/client/hooks';
import { randomSuffix } from '@/lib/client/format';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';
import { DEFAULT_FORM, STEP_FIELDS, STEPS, toInput, type Form } from './form';
import { PrepareRun } from './prepare-run';
import { StepImage } from './step-image';
import { StepQuiesce } from './step-quiesce';
import { StepReview } from './step-review';
import { StepSlots } from './step-slots';
import { StepWarmup } from './step-warmup';
import { watchOperation } from '@/lib/client/operation-watch';
import { prepareNote } from '@/lib/client/end-notes';

/** The operation this page follows, kept in the address: `/prepare?operation=ID`. */
function showOperation(id: string | null) {
  const url = new URL(location.href);
  if (id) url.searchParams.set('operation', id);
  else url.searchParams.delete('operation');
  history.replaceState(history.state, '', url);
}

export function PrepareWizard() {
  const prepare = useAction(prepareAction, 'template');
  const images = useImages();
  const ls = useLs();
  const [step, setStep] = useState(0);
  const [form, setForm] = useState<Form>(DEFAULT_FORM);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [operationId, setOperationId] = useState<string | null>(null);
  /** the form that started the operation (null: the page was opened on a running one) */
  const [plan, setPlan] = useState<Form | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  useEffect(() => {
    setForm((f) => (f.name ? f : { ...f, name: `web-${randomSuffix()}` }));
    setOperationId(new URLSearchParams(location.search).get('operation'));
  }, []);

  // Focus follows the step (not on first load: the first field has focus then).
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    heading.current?.focus();
  }, [step]);

  /** Names of templates and VMs that exist: a new template's name must differ (checked as it is typed). */
  const takenNames = useMemo(() => new Set([...(ls.data?.templates ?? []).map((t) => t.name), ...(ls.data?.vms ?? []).map((v) => v.name)]), [ls.data]);
  const nameTaken = takenNames.has(form.name.trim()) ? `The name "${form.name.trim()}" is already used by a template or VM; choose another name.` : null;

  /** Checks the fields of the steps up to `upTo` with the shared schema; the data when all are valid. */
  function validate(upTo: number): { ok: boolean; data?: PrepareInput } {
    const parsed = prepareSchema.safeParse(toInput(form));
    const fields = new Set(STEP_FIELDS.slice(0, upTo + 1).flat());
    const errs: Record<string, string> = {};
    if (nameTaken) errs.name = nameTaken;
    if (!parsed.success) {
      for (const i of parsed.error.issues) {
        const k = String(i.path[0] ?? '');
        if ((fields.has(k) || upTo >= STEPS.length - 1) && !errs[k]) errs[k] = i.path.length > 1 && k === 'warmup' ? `Command ${Number(i.path[1]) + 1}: ${i.message}` : i.message;
      }
    }
    setErrors(errs);
    return { ok: Object.keys(errs).length === 0, data: parsed.success && !nameTaken ? parsed.data : undefined };
  }

  function next(e?: React.FormEvent) {
    e?.preventDefault();
    if (!validate(step).ok) return;
    if (step < STEPS.length - 1) setStep(step + 1);
    else void start();
  }

  /** The action answers at once: the operation's id, or the refusal of role or input (no operation then). */
  async function start() {
    const { data: input } = validate(STEPS.length - 1);
    if (!input) return;
    setRefused(null);
    try {
      const { operationId: id } = watchOperation(await prepare.mutateAsync(input), prepareNote(input.name));
      setPlan(form);
      setOperationId(id);
      showOperation(id);
    } catch (err) {
      setRefused(errorText(err));
    }
  }

  if (operationId) {
    return (
      <PrepareRun
        key={operationId}
        operationId={operationId}
        plan={plan}
        onAnother={() => {
          setOperationId(null);
          showOperation(null);
          setStep(0);
          setForm((f) => ({ ...f, name: `web-${randomSuffix()}` }));
        }}
        onBack={() => {
          setOperationId(null);
          showOperation(null);
          setStep(STEPS.length - 1);
        }}
      />
    );
  }

  const props = { form, set, errors };
  const selected = images.data?.find((i) => i.name === form.image);
  return (
    <form onSubmit={next} noValidate className="max-w-3xl space-y-5" data-testid="prepare-wizard">
      <ol className="flex flex-wrap gap-2 text-xs" aria-label="Wizard steps">
        {STEPS.map((s, i) => (
          <li key={s}>
            <button
              type="button"
              onClick={() => i < step && setStep(i)}
              disabled={i > step}
              aria-current={i === step ? 'step' : undefined}
              className={`rounded-full border px-3 py-1 ${i === step ? 'border-sky-500 bg-sky-900/60 text-white' : i < step ? 'border-emerald-800 text-emerald-300 hover:bg-slate-800' : 'border-slate-700 text-slate-400'}`}
            >
              {i + 1}. {s}
            </button>
          </li>
        ))}
      </ol>
      <h1 ref={heading} tabIndex={-1} className="text-xl font-semibold text-white outline-none">
        Prepare a template — {STEPS[step]}
      </h1>
      {step === 0 && <StepImage {...props} images={images.data ?? []} nameTaken={nameTaken} hasDisplay={!!selected && selected.firmware !== 'kernel'} />}
      {step === 1 && <StepWarmup {...props} />}
      {step === 2 && <StepQuiesce {...props} />}
      {step === 3 && <StepSlots {...props} />}
      {step === 4 && <StepReview form={form} errors={errors} />}
      <ErrorNote error={refused} />
      <div className="flex gap-2 border-t border-slate-800 pt-4">
        {step > 0 && <Button onClick={() => setStep(step - 1)}>Back</Button>}
        <Button type="submit" variant="primary" busy={prepare.isPending} disabled={prepare.isPending}>
          {step < STEPS.length - 1 ? 'Next' : 'Prepare template'}
        </Button>
      </div>
    </form>
  );
}
