'use client';
// The wizard's running and done view: follows the prepare's operation by its id (useOperation), so it
// shows the engine's own steps, and survives a reload (the id is in the address). The parent VM is the
// one the operation's template has (its targetId), not a name guessed from the form.
import { useEffect, useRef, useState } from 'react';
import type { PrepareResult } from '@/lib/engine';
import { useImages, useLs, useTemplate } from '@/lib/client/hooks';
import { useOperation } from '@/lib/client/use-operation';
import { ms } from '@/lib/client/format';
import type { Timings } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ErrorNote, Progress } from '@/components/ui/misc';
import { SerialConsole } from '@/components/vm/serial-console';
import { ScreenPicture } from '@/components/vm/screen-picture';
import type { Form } from './form';
import { PHASES, phaseFromLog, STEP_PHASE } from './phases';
import { PhaseList } from './phase-list';
import { PrepareDone } from './prepare-done';
import { WarmupResults } from './warmup-results';

export function PrepareRun({ operationId, plan, onAnother, onBack }: { operationId: string; plan: Form | null; onAnother: () => void; onBack: () => void }) {
  const op = useOperation<PrepareResult>(operationId);
  const ls = useLs();
  const images = useImages();
  const template = useTemplate(op?.targetId ?? '');
  const heading = useRef<HTMLHeadingElement>(null);
  const [now, setNow] = useState(Date.now());
  const running = !op || op.state === 'running' || op.state === 'pending';
  const result = op?.state === 'succeeded' ? op.result : undefined;
  const error = op?.state === 'failed' ? (op.error ?? 'The prepare failed.') : null;
  const name = result?.name ?? op?.targetName ?? plan?.name ?? '';

  useEffect(() => heading.current?.focus(), [running]);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [running]);

  // The parent while it boots: the VM of kind parent of the operation's template. It is removed after
  // the freeze; its console stays (after a failure it shows where the boot stopped).
  const [parentId, setParentId] = useState<string | null>(null);
  const listed = op?.targetId ? (ls.data?.vms ?? []).find((v) => v.kind === 'parent' && v.templateId === op.targetId) : undefined;
  useEffect(() => {
    if (running && listed && listed.id !== parentId) setParentId(listed.id);
  }, [running, listed, parentId]);

  // the step reached: the furthest of the live events' step and the row's log (a page opened mid-way)
  const [phase, setPhase] = useState(0);
  const stepPhase = op?.step !== undefined ? STEP_PHASE[op.step] : undefined;
  useEffect(() => {
    setPhase((p) => Math.max(p, stepPhase ?? 0, phaseFromLog(op?.log ?? '')));
  }, [stepPhase, op?.log]);

  const imageName = plan?.image ?? template.data?.image;
  const image = images.data?.find((i) => i.name === imageName);
  // imported images boot through firmware with a VGA device: their screen shows what the serial console may not
  const hasDisplay = !!image && image.firmware !== 'kernel';
  const timings: Timings = result?.timings ?? template.data?.timings ?? {};
  const elapsed = op?.state === 'running' && op.startedAt ? Math.max(0, now - Date.parse(op.startedAt)) : null;

  return (
    <div className="space-y-4" data-testid="prepare-run" data-operation={operationId}>
      <h1 ref={heading} tabIndex={-1} className="text-xl font-semibold text-white outline-none">
        {result ? `Template ${result.name} is ready` : error ? `Preparing ${name} failed` : `Preparing ${name}…`}
      </h1>
      <PhaseList
        phase={result ? PHASES.length : phase}
        done={!!result}
        failed={!!error}
        hasTask={!!op?.targetId}
        timings={timings}
        quiesce={plan?.quiesce ?? template.data?.quiesced ?? true}
        slots={plan?.slots ?? (template.data ? String(template.data.slots.total) : '')}
        prelaunch={plan?.prelaunch ?? false}
      />
      {running && (
        <div className="space-y-1">
          <div className="flex justify-between text-xs text-slate-400">
            <span data-testid="prepare-message">{op?.step ? `${op.step}${op.message ? `: ${op.message}` : ''}` : 'Starting…'}</span>
            <span>{elapsed !== null ? ms(elapsed) : ''}</span>
          </div>
          <Progress value={Math.max(op?.progress ?? 0, 0.02)} label="Prepare progress" />
        </div>
      )}
      <ErrorNote error={error} />
      {result && <PrepareDone result={result} onAnother={onAnother} />}
      {result && <WarmupResults warmup={result.warmup} />}
      {!result && parentId && hasDisplay && (
        <section aria-label="Parent screen">
          <h2 className="mb-1 text-xs font-semibold uppercase text-slate-400">Screen of the parent</h2>
          {/* after a failure the last picture stays: it shows where the boot stopped */}
          <ScreenPicture vmRef={parentId} live={running} label={`The screen of ${name}'s parent while it boots`} />
        </section>
      )}
      {!result && parentId && (
        <section aria-label="Parent serial console">
          <h2 className="mb-1 text-xs font-semibold uppercase text-slate-400">Serial console of the parent</h2>
          <SerialConsole vmRef={parentId} canType={false} rows={14} readOnlyReason="view only while the parent is prepared" />
        </section>
      )}
      {op?.log && (
        <details className="rounded border border-slate-800" open={running}>
          <summary className="cursor-pointer px-3 py-1 text-xs text-slate-400">Task log</summary>
          <pre className="max-h-56 overflow-auto px-3 py-2 font-mono text-[11px] whitespace-pre-wrap text-slate-300" data-testid="prepare-log">
            {op.log}
          </pre>
        </details>
      )}
      {error && <Button onClick={onBack}>Back to the form</Button>}
    </div>
  );
}
