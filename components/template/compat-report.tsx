// The compatibility report of a guest (probed at prepare, lib/engine/compat.ts): one line per
// finding, each with what it means for the children.
import type { CompatReport as Report } from '@/lib/client/types';

const LABEL: Record<string, string> = { agent: 'Guest agent', commands: 'Agent commands', vmgenid: 'VM generation ID', network: 'Network', fsfreeze: 'File system freeze' };

export function CompatReport({ report }: { report: Report }) {
  return (
    <ul className="space-y-1.5" data-testid="compat-report" aria-label="Compatibility report">
      {report.lines.map((l) => (
        <li key={l.key} data-key={l.key} data-ok={l.ok} className={`rounded border px-2 py-1 text-sm ${l.ok ? 'border-emerald-900 bg-emerald-950/30' : 'border-amber-800 bg-amber-950/30'}`}>
          <div className="flex flex-wrap items-baseline gap-x-2">
            <span aria-hidden className={l.ok ? 'text-emerald-400' : 'text-amber-400'}>
              {l.ok ? '✓' : '!'}
            </span>
            <span className="sr-only">{l.ok ? 'fine:' : 'attention:'}</span>
            <span className="text-slate-400">{LABEL[l.key] ?? l.key}</span>
            <span className="font-mono text-xs text-slate-100">{l.value}</span>
          </div>
          <p className="pl-5 text-xs text-slate-300">For the children: {l.meaning}</p>
        </li>
      ))}
    </ul>
  );
}

/** The sentence shown where a template has no report (our own images: identity through the resident helper). */
export const NO_COMPAT = 'No compatibility report: this guest answers on Instaclone’s own identity channel (built-in images), so children get their identity through it.';
