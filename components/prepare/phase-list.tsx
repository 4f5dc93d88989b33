// The prepare's five steps, each done, active, failed or to do, with its time once known.
import { ms } from '@/lib/client/format';
import type { Timings } from '@/lib/client/types';
import { PHASES } from './phases';

export function PhaseList({ phase, done, failed, hasTask, timings, quiesce, slots, prelaunch }: {
  phase: number;
  done: boolean;
  failed: boolean;
  /** a failure before the engine started a task (refused input) blames no step */
  hasTask: boolean;
  timings: Timings;
  quiesce: boolean;
  slots: string;
  prelaunch: boolean;
}) {
  return (
    <ol className="grid gap-2 md:grid-cols-5" aria-label="Prepare steps">
      {PHASES.map((p, i) => {
        // a failure before the engine started a task (refused input) blames no step
        const state = done ? 'done' : failed ? (i < phase ? 'done' : i === phase && hasTask ? 'failed' : 'todo') : i < phase ? 'done' : i === phase ? 'active' : 'todo';
        const t = timings[`${p.key}Ms`];
        return (
          <li
            key={p.key}
            data-testid={`phase-${p.key}`}
            data-state={state}
            aria-current={state === 'active' ? 'step' : undefined}
            className={`rounded border px-3 py-2 text-sm ${
              state === 'done' ? 'border-emerald-800 bg-emerald-950/40' : state === 'active' ? 'border-sky-600 bg-sky-950/50' : state === 'failed' ? 'border-rose-700 bg-rose-950/40' : 'border-slate-800 bg-slate-900'
            }`}
          >
            <div className="text-xs text-slate-400">Step {i + 1}</div>
            <div className="font-medium text-slate-100">
              {state === 'done' ? '✓ ' : state === 'active' ? '… ' : state === 'failed' ? '✗ ' : ''}
              {p.label}
            </div>
            {p.key === 'quiesce' && !quiesce && <div className="text-xs text-slate-400">skipped (not requested)</div>}
            {p.key === 'slots' && <div className="text-xs text-slate-400">{slots || 0} slots{prelaunch ? ', prelaunched' : ''}</div>}
            {typeof t === 'number' && <div className="text-xs text-sky-300">{ms(t)}</div>}
          </li>
        );
      })}
    </ol>
  );
}
