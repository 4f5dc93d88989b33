import type { ReactNode } from 'react';
import { stateColour } from '@/lib/client/vm-state';

export function StateDot({ state, className = '' }: { state: string; className?: string }) {
  return <span className={`inline-block h-2.5 w-2.5 shrink-0 rounded-full ${stateColour(state)} ${className}`} aria-hidden />;
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span className="inline-flex items-center gap-1.5 rounded bg-slate-800 px-2 py-0.5 text-xs font-medium text-slate-200" data-state={state}>
      <StateDot state={state} />
      {state}
    </span>
  );
}

export function Badge({ children, tone = 'slate', title, className = '' }: { children: ReactNode; tone?: 'slate' | 'sky' | 'amber' | 'emerald' | 'rose' | 'indigo'; title?: string; className?: string }) {
  const t: Record<string, string> = {
    slate: 'bg-slate-800 text-slate-300 border-slate-700',
    sky: 'bg-sky-950 text-sky-300 border-sky-800',
    amber: 'bg-amber-950 text-amber-300 border-amber-800',
    emerald: 'bg-emerald-950 text-emerald-300 border-emerald-800',
    rose: 'bg-rose-950 text-rose-300 border-rose-800',
    indigo: 'bg-indigo-950 text-indigo-300 border-indigo-800',
  };
  return (
    <span title={title} className={`inline-flex items-center rounded border px-1.5 py-px text-[11px] font-medium whitespace-nowrap ${t[tone]} ${className}`}>
      {children}
    </span>
  );
}

export function Panel({ title, actions, children, className = '', id }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string; id?: string }) {
  return (
    <section className={`min-w-0 rounded-md border border-slate-800 bg-slate-900/70 ${className}`} aria-labelledby={id}>
      {(title || actions) && (
        <header className="flex items-center justify-between gap-2 border-b border-slate-800 px-3 py-2">
          <h2 id={id} className="text-xs font-semibold uppercase tracking-wide text-slate-400">
            {title}
          </h2>
          <div className="flex items-center gap-2">{actions}</div>
        </header>
      )}
      <div className="p-3">{children}</div>
    </section>
  );
}

export function ErrorNote({ error, className = '' }: { error: unknown; className?: string }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return (
    <p role="alert" className={`rounded border border-rose-800 bg-rose-950/60 px-3 py-2 text-sm text-rose-200 ${className}`}>
      {text}
    </p>
  );
}

/** A progress bar always has a name (axe: aria-progressbar-name); give a specific one where it helps. */
export function Progress({ value, label = 'Progress' }: { value: number; label?: string }) {
  const pct = Math.max(0, Math.min(100, value * 100));
  return (
    <div role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)} aria-label={label} className="h-1.5 w-full overflow-hidden rounded bg-slate-800">
      <div className="h-full rounded bg-sky-500 transition-[width] duration-300" style={{ width: `${pct}%` }} />
    </div>
  );
}

export function KV({ items }: { items: [ReactNode, ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
      {items.map(([k, v], i) => (
        <div key={i} className="contents">
          <dt className="text-slate-400">{k}</dt>
          <dd className="min-w-0 font-mono text-slate-100 [overflow-wrap:anywhere]">{v ?? '–'}</dd>
        </div>
      ))}
    </dl>
  );
}

export function MemBar({ shared, priv }: { shared: number; priv: number }) {
  const total = shared + priv;
  if (!total) return <span className="text-xs text-slate-400">–</span>;
  return (
    <span className="inline-flex h-2 w-24 overflow-hidden rounded bg-slate-800" title={`shared ${Math.round(shared / 2 ** 20)} MiB / private ${Math.round(priv / 2 ** 20)} MiB`}>
      <span className="h-full bg-indigo-500" style={{ width: `${(shared / total) * 100}%` }} />
      <span className="h-full bg-amber-500" style={{ width: `${(priv / total) * 100}%` }} />
    </span>
  );
}
