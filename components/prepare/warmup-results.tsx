// Each warm-up command the parent ran, with its exit code, time and output (the wizard's done view and
// the template page).
import { ms } from '@/lib/client/format';
import type { WarmupRecord as WarmupResult } from '@/lib/client/types';

export function WarmupList({ warmup, testId }: { warmup: WarmupResult[]; testId?: string }) {
  return (
    <ul className="space-y-2" data-testid={testId}>
      {warmup.map((w, i) => (
        <li key={i} className="rounded border border-slate-800 bg-black/40">
          <div className="flex gap-3 px-2 py-1 text-xs">
            <span className="min-w-0 break-all font-mono text-slate-200">$ {w.cmd}</span>
            <span className={`ml-auto ${w.exitCode === 0 ? 'text-emerald-400' : 'text-rose-400'}`}>exit {w.exitCode ?? '?'}</span>
            <span className="text-slate-400">{ms(w.ms)}</span>
          </div>
          <pre className="max-h-32 overflow-auto px-2 pb-1 font-mono text-[11px] whitespace-pre-wrap text-slate-400">{`${w.stdout ?? ''}${w.stderr ?? ''}` || '(no output)'}</pre>
        </li>
      ))}
    </ul>
  );
}

export function WarmupResults({ warmup }: { warmup: WarmupResult[] }) {
  if (warmup.length === 0) return null;
  return (
    <section aria-label="Warm-up output">
      <h2 className="mb-1 text-xs font-semibold uppercase text-slate-400">Warm-up commands</h2>
      <WarmupList warmup={warmup} testId="warmup-results" />
    </section>
  );
}
