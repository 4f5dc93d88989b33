'use client';
// Prepare wizard: image and size → warm-up commands → quiesce → slots → review; then the engine's one
// blocking prepare call runs, and its task (progress + log lines over SSE) drives the steps shown:
// boot (with the parent's live serial console) → warm-up → quiesce → freeze → slots → done with timings.
// Every input is labelled; Enter moves on; the whole wizard works with the keyboard alone.
import Link from 'next/link';
import { useEffect, useMemo, useRef, useState } from 'react';
import { LIMITS, prepareSchema, type PrepareInput } from '@/lib/validations';
import { fetchTemplate } from '@/lib/client/api/templates';
import { prepareAction, templateFilesAction } from '@/app/actions/templates';
import type { FileInfo } from '@/lib/engine/template-files';
import { useAction } from '@/lib/client/actions';
import { parsePorts } from '@/lib/client/ports';
import { errorText } from '@/lib/client/api/http';
import { useImages, useLs, useTasks } from '@/lib/client/hooks';
import { onEngineEvent } from '@/lib/client/use-engine-events';
import { bytes, ms, randomSuffix } from '@/lib/client/format';
import type { PrepareResult, TemplateDetail as Template, Timings } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ErrorNote, Progress } from '@/components/ui/misc';
import { SerialConsole } from '@/components/vm/serial-console';
import { ScreenPicture } from '@/components/vm/screen-picture';
import { firmwareLabel } from '@/components/images/image-fields';
import { PHASES, phaseFromLog, STEP_PHASE } from './phases';
import { PhaseList } from './phase-list';
import { WarmupResults } from './warmup-results';

const STEPS = ['Image and size', 'Warm-up', 'Quiesce', 'Slots', 'Review'] as const;
const STEP_FIELDS: string[][] = [['image', 'name', 'memory', 'vcpus', 'bootTimeout'], ['warmup', 'ports'], ['quiesce', 'keepParent'], ['slots', 'prelaunch'], []];

const DEFAULT_WARMUP = 'httpd -p 8080 -h /www && echo httpd started on port 8080';
const field = 'mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5 text-slate-100 disabled:opacity-50';

interface Form {
  image: string;
  name: string;
  memory: string;
  vcpus: string;
  warmup: string[];
  quiesce: boolean;
  keepParent: boolean;
  slots: string;
  prelaunch: boolean;
  /** guest ports to forward, as typed: "80, 8080, 22" */
  ports: string;
  /** seconds to wait for the guest agent (imported images; empty: the server's default) */
  bootTimeout: string;
}


function toInput(f: Form) {
  const num = (s: string) => (s.trim() === '' ? undefined : Number(s));
  return {
    image: f.image,
    name: f.name,
    memory: num(f.memory),
    vcpus: num(f.vcpus),
    warmup: f.warmup.filter((w) => w.trim() !== ''),
    quiesce: f.quiesce,
    keepParent: f.keepParent,
    slots: num(f.slots),
    prelaunch: f.prelaunch,
    ports: parsePorts(f.ports),
    bootTimeout: num(f.bootTimeout),
  };
}


export function PrepareWizard() {
  const prepare = useAction(prepareAction, 'template');
  const images = useImages();
  const ls = useLs();
  const tasks = useTasks();
  const [step, setStep] = useState(0);
  const [form, setForm] = useState<Form>(() => ({
    image: 'tiny',
    name: '', // a random default is chosen after hydration (server and browser would pick different ones)
    memory: '256',
    vcpus: '1',
    warmup: [DEFAULT_WARMUP],
    quiesce: true,
    keepParent: false,
    slots: '4',
    prelaunch: false,
    ports: '80, 8080, 22',
    bootTimeout: '',
  }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [running, setRunning] = useState(false);
  const [started, setStarted] = useState<number | null>(null);
  const [now, setNow] = useState(Date.now());
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<PrepareResult | null>(null);
  const [template, setTemplate] = useState<Template | null>(null);
  const [files, setFiles] = useState<FileInfo[] | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  // Focus follows the step (not on first load: the first field has focus then).
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    heading.current?.focus();
  }, [step, running, result]);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [running]);

  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  useEffect(() => setForm((f) => (f.name ? f : { ...f, name: `web-${randomSuffix()}` })), []);

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
    else void run();
  }

  async function run() {
    const { data: input } = validate(STEPS.length - 1);
    if (!input) return;
    setError(null);
    setRunning(true);
    setStarted(Date.now());
    try {
      const r = await prepare.mutateAsync(input);
      setResult(r);
      try {
        setTemplate(await fetchTemplate(r.id ?? r.name));
        const f = await templateFilesAction({ ref: r.id ?? r.name });
        if (f.ok) setFiles(f.data.files);
      } catch {
        /* the result alone is enough */
      }
    } catch (err) {
      setError(errorText(err));
    } finally {
      setRunning(false);
    }
  }

  const task = useMemo(
    () => (tasks.data ?? []).find((t) => t.kind === 'prepare' && (t.targetName === form.name || t.targetId === result?.id) && (!started || Date.parse(t.startedAt) >= started - 5000)),
    [tasks.data, form.name, result, started],
  );
  // The parent is listed while it boots (NAME.parent) and removed after the freeze: keep its console.
  const listedParent = (ls.data?.vms ?? []).find((v) => v.kind === 'parent' && (v.name === `${form.name}.parent` || v.name.startsWith(`${form.name}.`)));
  const [parentId, setParentId] = useState<string | null>(null);
  useEffect(() => {
    if (running && listedParent && listedParent.id !== parentId) setParentId(listedParent.id);
  }, [running, listedParent, parentId]);
  // Live step and message from the task's SSE events (faster than refetching the task).
  const [livePhase, setLivePhase] = useState(0);
  const [liveMessage, setLiveMessage] = useState<string | null>(null);
  useEffect(() => {
    if (!running) return;
    setLivePhase(0);
    setLiveMessage(null);
    return onEngineEvent((ev) => {
      if (ev.type !== 'task' || ev.kind !== 'prepare' || typeof ev.step !== 'string') return;
      if (STEP_PHASE[ev.step] !== undefined) setLivePhase((p) => Math.max(p, STEP_PHASE[ev.step as string]));
      if (typeof ev.message === 'string') setLiveMessage(`${ev.step}: ${ev.message}`);
    });
  }, [running]);
  const phase = result ? PHASES.length : Math.max(livePhase, phaseFromLog(task?.log ?? ''));
  const selected = images.data?.find((i) => i.name === form.image);
  // imported images boot through firmware with a VGA device: their screen shows what the serial console may not
  const hasDisplay = !!selected && selected.firmware !== 'kernel';

  // ---- running / done view ----
  if (running || result || (error && started)) {
    const timings: Timings = result?.timings ?? template?.timings ?? {};
    return (
      <div className="space-y-4" data-testid="prepare-run">
        <h1 ref={heading} tabIndex={-1} className="text-xl font-semibold text-white outline-none">
          {result ? `Template ${result.name} is ready` : error ? `Preparing ${form.name} failed` : `Preparing ${form.name}…`}
        </h1>
        <PhaseList phase={phase} done={!!result} failed={!!error} hasTask={!!task} timings={timings} quiesce={form.quiesce} slots={form.slots} prelaunch={form.prelaunch} />
        {running && (
          <div className="space-y-1">
            <div className="flex justify-between text-xs text-slate-400">
              <span data-testid="prepare-message">{liveMessage ?? task?.log.trim().split('\n').pop()?.replace(/^\S+ /, '') ?? 'Starting…'}</span>
              <span>{started ? ms(now - started) : ''}</span>
            </div>
            <Progress value={task?.progress ?? 0.02} label="Prepare progress" />
          </div>
        )}
        <ErrorNote error={error} />
        {result && (
          <div className="space-y-3 rounded border border-slate-800 bg-slate-900/70 p-4" data-testid="prepare-done">
            <p className="text-sm text-slate-300">
              Frozen {result.quiesced ? 'and quiesced' : '(not quiesced)'} in {started ? ms(Date.now() - started) : '–'} in all.
              {form.keepParent && (
                <>
                  {' '}The parent runs on as{' '}
                  <Link href={`/vms/${form.name}.parent`} className="text-sky-300 hover:underline">
                    {form.name}.parent
                  </Link>
                  .
                </>
              )}
            </p>
            <dl className="grid grid-cols-2 gap-2 text-sm md:grid-cols-5">
              {Object.entries(timings)
                .filter(([, v]) => typeof v === 'number')
                .map(([k, v]) => (
                  <div key={k} className="rounded border border-slate-800 bg-slate-950 px-3 py-2">
                    <dt className="text-xs text-slate-400">{k.replace(/Ms$/, '')}</dt>
                    <dd className="font-mono text-sky-300">{ms(v)}</dd>
                  </div>
                ))}
            </dl>
            {files && (
              <p className="text-xs text-slate-300" data-testid="prepare-files">
                Files: {files.map((f) => `${f.name} ${f.missing ? 'missing' : bytes(f.sizeBytes)}`).join(' · ')}
              </p>
            )}
            <div className="flex gap-2">
              <Link prefetch={false} href={`/templates/${result.name}`} className="rounded border border-sky-500 bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-600">
                Open template {result.name}
              </Link>
              <Button
                onClick={() => {
                  setResult(null);
                  setTemplate(null);
                  setFiles(null);
                  setStarted(null);
                  setStep(0);
                  set('name', `web-${randomSuffix()}`);
                }}
              >
                Prepare another
              </Button>
            </div>
          </div>
        )}
        {template && <WarmupResults warmup={template.warmup} />}
        {(running || error) && parentId && hasDisplay && (
          <section aria-label="Parent screen">
            <h2 className="mb-1 text-xs font-semibold uppercase text-slate-400">Screen of the parent</h2>
            {/* after a failure the last picture stays: it shows where the boot stopped */}
            <ScreenPicture vmRef={parentId} live={running} label={`The screen of ${form.name}'s parent while it boots`} />
          </section>
        )}
        {(running || error) && parentId && (
          <section aria-label="Parent serial console">
            <h2 className="mb-1 text-xs font-semibold uppercase text-slate-400">Serial console of the parent</h2>
            <SerialConsole vmRef={parentId} canType={false} rows={14} readOnlyReason="view only while the parent is prepared" />
          </section>
        )}
        {task && (
          <details className="rounded border border-slate-800" open={running}>
            <summary className="cursor-pointer px-3 py-1 text-xs text-slate-400">Task log</summary>
            <pre className="max-h-56 overflow-auto px-3 py-2 font-mono text-[11px] whitespace-pre-wrap text-slate-300" data-testid="prepare-log">
              {task.log}
            </pre>
          </details>
        )}
        {error && (
          <Button
            onClick={() => {
              setError(null);
              setStarted(null);
              setStep(4);
            }}
          >
            Back to the form
          </Button>
        )}
      </div>
    );
  }

  // ---- the form ----
  const err = (k: string) =>
    errors[k] ? (
      <p id={`${k}-error`} role="alert" className="mt-1 text-xs text-rose-300">
        {errors[k]}
      </p>
    ) : null;
  const imageList = images.data ?? [];
  const imageNames = Array.from(new Set(['tiny', 'debian', ...imageList.map((i) => i.name)]));
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

      {step === 0 && (
        <div className="grid gap-4 md:grid-cols-2">
          <label className="block text-sm text-slate-300" htmlFor="image">
            Image
            <select
              id="image"
              value={form.image}
              onChange={(e) => {
                const img = e.target.value;
                setForm((f) => ({
                  ...f,
                  image: img,
                  // the default warm-up starts the tiny image's web server; other guests have their own
                  warmup: img !== 'tiny' && f.warmup.length === 1 && f.warmup[0] === DEFAULT_WARMUP ? [] : f.warmup,
                }));
              }}
              className={field}
              aria-describedby="image-help"
            >
              {imageNames.map((n) => {
                const img = imageList.find((i) => i.name === n);
                return (
                  <option key={n} value={n}>
                    {n}
                    {img ? ` — ${img.source === 'imported' ? 'imported' : 'built in'}, ${firmwareLabel(img.firmware)}${img.built ? `, ${bytes(img.sizeBytes)}` : ' (built on first use)'}` : ''}
                  </option>
                );
              })}
            </select>
            <span id="image-help" className="mt-1 block text-xs text-slate-400">
              tiny: busybox guest with a web server, boots in seconds. debian: a full Debian root disk. Imported images boot from their own disk through BIOS or UEFI (minutes under TCG); add
              one on the{' '}
              <Link href="/images" className="text-sky-400 underline">
                Images
              </Link>{' '}
              page.
            </span>
          </label>
          <label className="block text-sm text-slate-300" htmlFor="name">
            Template name
            <input id="name" value={form.name} onChange={(e) => set('name', e.target.value)} className={field} autoFocus aria-invalid={!!(errors.name || nameTaken)} aria-describedby="name-error" />
            {nameTaken && !errors.name ? (
              <p id="name-error" role="alert" className="mt-1 text-xs text-rose-300" data-testid="name-taken">
                {nameTaken}
              </p>
            ) : (
              err('name')
            )}
          </label>
          <label className="block text-sm text-slate-300" htmlFor="memory">
            Memory (MiB)
            <input id="memory" type="number" min={LIMITS.minMemoryMiB} max={LIMITS.maxMemoryMiB} step={64} value={form.memory} onChange={(e) => set('memory', e.target.value)} className={field} aria-invalid={!!errors.memory} aria-describedby="memory-error" />
            {err('memory')}
          </label>
          <label className="block text-sm text-slate-300" htmlFor="vcpus">
            vCPUs
            <input id="vcpus" type="number" min={1} max={LIMITS.maxVcpus} value={form.vcpus} onChange={(e) => set('vcpus', e.target.value)} className={field} aria-invalid={!!errors.vcpus} aria-describedby="vcpus-error" />
            {err('vcpus')}
          </label>
          {hasDisplay && (
            <label className="block text-sm text-slate-300" htmlFor="bootTimeout">
              Boot timeout (s)
              <input id="bootTimeout" type="number" min={5} max={3600} placeholder="300" value={form.bootTimeout} onChange={(e) => set('bootTimeout', e.target.value)} className={field} aria-invalid={!!errors.bootTimeout} aria-describedby="bootTimeout-help bootTimeout-error" />
              <span id="bootTimeout-help" className="mt-1 block text-xs text-slate-400">
                How long to wait for the guest agent to answer after power-on; a disk that does not boot fails after this, with its last screen and serial lines.
              </span>
              {err('bootTimeout')}
            </label>
          )}
          {err('image')}
        </div>
      )}

      {step === 1 && (
        <fieldset className="space-y-3">
          <legend className="text-sm text-slate-400">
            Commands run in the booted parent through the guest agent, one after the other, before the freeze: start apps, load libraries into memory. Every child starts with their effects already in RAM. Each command&apos;s output is shown when the template is ready.
          </legend>
          {form.warmup.map((w, i) => (
            <div key={i} className="flex items-end gap-2">
              <label className="block flex-1 text-sm text-slate-300" htmlFor={`warmup-${i}`}>
                Warm-up command {i + 1}
                <input
                  id={`warmup-${i}`}
                  value={w}
                  onChange={(e) => set('warmup', form.warmup.map((x, j) => (j === i ? e.target.value : x)))}
                  className={`${field} font-mono`}
                />
              </label>
              <Button aria-label={`Remove warm-up command ${i + 1}`} onClick={() => set('warmup', form.warmup.filter((_, j) => j !== i))}>
                Remove
              </Button>
            </div>
          ))}
          <Button onClick={() => set('warmup', [...form.warmup, ''])} disabled={form.warmup.length >= LIMITS.maxWarmups}>
            Add a command
          </Button>
          {err('warmup')}
          <label className="block text-sm text-slate-300" htmlFor="ports">
            Forwarded guest ports
            <input id="ports" value={form.ports} onChange={(e) => set('ports', e.target.value)} className={`${field} font-mono`} inputMode="numeric" aria-invalid={!!errors.ports} aria-describedby="ports-help ports-error" />
            <span id="ports-help" className="mt-1 block text-xs text-slate-400">
              TCP ports inside the guest that every child gets forwarded from a free port on the host&apos;s 127.0.0.1 (a fork may choose others). Separate them with commas.
            </span>
            {err('ports')}
          </label>
        </fieldset>
      )}

      {step === 2 && (
        <div className="space-y-3">
          <p className="text-sm text-slate-400">
            <b className="text-slate-200">Quiesce</b> freezes and flushes the guest&apos;s file systems (guest-fsfreeze / sync through the agent) right before the freeze, so the base disk is consistent on
            its own. It is <b className="text-slate-200">required for persistent children</b>, which get their own delta disk on that base and can later be stopped and cold-booted. Without it, only
            non-persistent (throwaway) children can be forked.
          </p>
          {/* before quiesce in tab order: quiesce stays the last field before Back / Next */}
          <label className="flex items-center gap-2 text-sm text-slate-200" htmlFor="keep-parent">
            <input id="keep-parent" type="checkbox" checked={form.keepParent} onChange={(e) => set('keepParent', e.target.checked)} />
            Keep the parent running (the template is a copy of this moment; the parent continues as itself)
          </label>
          <label className="flex items-center gap-2 text-sm text-slate-200" htmlFor="quiesce">
            <input id="quiesce" type="checkbox" checked={form.quiesce} onChange={(e) => set('quiesce', e.target.checked)} />
            Quiesce before the freeze (allows persistent children)
          </label>
          <p className="text-sm text-slate-400">
            Then the parent is <b className="text-slate-200">frozen</b>: QEMU stops it and writes its device state to a checkpoint; its RAM file and disk become the read-only template.
          </p>
        </div>
      )}

      {step === 3 && (
        <div className="grid gap-4 md:grid-cols-2">
          <label className="block text-sm text-slate-300" htmlFor="slots">
            Slots to pre-register
            <input id="slots" type="number" min={0} max={LIMITS.maxSlots} value={form.slots} onChange={(e) => set('slots', e.target.value)} className={field} aria-invalid={!!errors.slots} aria-describedby="slots-help slots-error" />
            <span id="slots-help" className="mt-1 block text-xs text-slate-400">
              A slot is a child registered ahead of time (config and overlay ready), so a fork only loads state and goes.
            </span>
            {err('slots')}
          </label>
          <div className="text-sm text-slate-300">
            <label className="flex items-center gap-2" htmlFor="prelaunch">
              <input id="prelaunch" type="checkbox" checked={form.prelaunch} onChange={(e) => set('prelaunch', e.target.checked)} aria-describedby="prelaunch-help" />
              Prelaunch the slots&apos; VMMs
            </label>
            <span id="prelaunch-help" className="mt-1 block text-xs text-slate-400">
              Starts each slot&apos;s QEMU now, waiting for incoming state: fastest forks, but each costs a process and some memory while idle.
            </span>
            {err('prelaunch')}
          </div>
        </div>
      )}

      {step === 4 && (
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
      )}

      <div className="flex gap-2 border-t border-slate-800 pt-4">
        {step > 0 && <Button onClick={() => setStep(step - 1)}>Back</Button>}
        <Button type="submit" variant="primary">
          {step < STEPS.length - 1 ? 'Next' : 'Prepare template'}
        </Button>
      </div>
    </form>
  );
}
