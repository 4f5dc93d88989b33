'use client';
// The wall screen: read-only, large type, dark, no interaction. Runs for days: everything it shows is
// derived from bounded query data (no growing arrays), and the SSE channel and the clock timer are
// cleaned up on unmount.
import { useEffect, useMemo, useState } from 'react';
import { useLs, useStats, useTasks } from '@/lib/client/hooks';
import { useEngineEvents } from '@/lib/client/use-engine-events';
import { buildLineage, type LineageNode, type TemplateNode } from '@/lib/client/lineage';
import { bytes, ms } from '@/lib/client/format';
import { LineageGraph } from '@/components/lineage/lineage-graph';
import { HostsPanel } from './hosts-panel';
import { PoolGauges } from './pool-gauges';

function Big({ label, value, sub, testId }: { label: string; value: string | number; sub?: string; testId: string }) {
  return (
    <div className="min-w-0 rounded-xl border border-slate-800 bg-slate-900/70 px-4 py-3 sm:px-6 sm:py-4">
      <div className="text-sm uppercase tracking-widest text-slate-300 sm:text-xl">{label}</div>
      <div className="mt-1 text-4xl font-bold tabular-nums text-white sm:text-6xl" data-testid={testId}>
        {value}
      </div>
      {sub && <div className="mt-1 text-sm text-slate-300 sm:text-xl">{sub}</div>}
    </div>
  );
}

function countFork(result: unknown): number | undefined {
  const r = result as { children?: unknown[] } | undefined;
  return Array.isArray(r?.children) ? r.children.length : undefined;
}

export function Wall() {
  const { connected } = useEngineEvents();
  const ls = useLs();
  const stats = useStats();
  const tasks = useTasks();
  // the clock starts after hydration: a server-rendered time never matches the browser's (React #418)
  const [now, setNow] = useState<number | null>(null);
  useEffect(() => {
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const vms = ls.data?.vms ?? [];
  const running = vms.filter((v) => v.kind === 'child' && v.state === 'running').length;
  const forkTasks = useMemo(() => (tasks.data ?? []).filter((t) => t.kind === 'fork'), [tasks.data]);
  const childrenLastMinute = now === null ? 0 : vms.filter((v) => v.kind === 'child' && v.createdAt && now - Date.parse(v.createdAt) < 60_000).length;
  const forkedLastMinute = forkTasks
    .filter((t) => now !== null && t.state === 'succeeded' && t.endedAt && now - Date.parse(t.endedAt) < 60_000)
    .reduce((a, t) => a + (countFork(t.result) ?? 0), 0);
  const perMinute = Math.max(childrenLastMinute, forkedLastMinute);
  const roots = useMemo(() => buildLineage(ls.data, stats.data), [ls.data, stats.data]);
  const templates: TemplateNode[] = [];
  const walk = (n: LineageNode, depth: number) => {
    if (n.kind === 'template' && templates.length < 8) templates.push({ ...n, depth } as TemplateNode & { depth: number });
    n.children.forEach((c) => walk(c, depth + 1));
  };
  roots.forEach((r) => walk(r, 0));

  return (
    <main className="flex min-h-screen cursor-none flex-col gap-5 bg-black p-4 text-slate-100 sm:p-6 lg:h-screen lg:overflow-hidden xl:p-8" data-testid="wall">
      <header className="flex flex-wrap items-baseline gap-x-6 gap-y-1">
        <h1 className="text-4xl font-bold tracking-tight">Instaclone</h1>
        <span className="text-lg text-slate-400 sm:text-2xl">instant clones of running VMs</span>
        <span className="ml-auto flex items-center gap-3 text-2xl tabular-nums text-slate-400">
          <span role="img" className={`h-4 w-4 rounded-full ${connected ? 'bg-emerald-500' : 'bg-amber-500'}`} aria-label={connected ? 'live' : 'reconnecting'} />
          <span data-testid="wall-clock">{now === null ? '' : new Date(now).toLocaleTimeString()}</span>
        </span>
      </header>
      <section className="grid grid-cols-2 gap-3 sm:gap-6 lg:grid-cols-4">
        <Big label="Running children" value={running} sub={`${vms.length} VMs in all`} testId="wall-running" />
        <Big label="Forks per minute" value={perMinute} sub="children created in the last 60 s" testId="wall-fpm" />
        <Big label="Memory saved" value={stats.data ? bytes(stats.data.totals.savedBytes) : '–'} sub="by sharing template RAM" testId="wall-saved" />
        <Big label="Templates" value={ls.data?.templates.length ?? 0} sub={`${ls.data?.templates.filter((t) => t.quiesced).length ?? 0} quiesced`} testId="wall-templates" />
      </section>
      <section className="grid min-h-0 flex-1 grid-cols-1 gap-6 lg:grid-cols-[3fr_2fr]">
        <div className="flex min-h-[60vh] flex-col rounded-xl border border-slate-800 bg-slate-900/70 p-4 lg:min-h-0" data-testid="wall-graph">
          <h2 className="text-xl uppercase tracking-widest text-slate-300">Lineage, live</h2>
          <LineageGraph roots={roots} big label="Lineage on the wall" />
        </div>
        <div className="flex min-h-0 flex-col gap-6 overflow-hidden">
        <HostsPanel />
        <PoolGauges />
        <div className="rounded-xl border border-slate-800 bg-slate-900/70 p-6">
          <h2 className="mb-4 text-xl uppercase tracking-widest text-slate-300">Last forks</h2>
          <ul className="space-y-3 text-3xl" data-testid="wall-forks">
            {forkTasks.slice(0, 4).map((t) => (
              <li key={t.id} className="flex items-baseline gap-4 tabular-nums">
                <span className={t.state === 'failed' ? 'text-rose-400' : t.state === 'running' ? 'text-sky-300' : 'text-emerald-400'}>
                  {t.state === 'running' ? '…' : t.state === 'failed' ? '✗' : '✓'}
                </span>
                <span className="flex-1 truncate">
                  {t.targetName ?? t.targetId}
                  {countFork(t.result) !== undefined && <span className="text-slate-400"> × {countFork(t.result)}</span>}
                </span>
                <span className="text-slate-300">{t.endedAt ? ms(Date.parse(t.endedAt) - Date.parse(t.startedAt)) : ''}</span>
                <span className="w-40 text-right text-2xl text-slate-300">{now === null ? '' : new Date(t.startedAt).toLocaleTimeString()}</span>
              </li>
            ))}
            {forkTasks.length === 0 && <li className="text-slate-400">No forks yet.</li>}
          </ul>
        </div>
        <div className="rounded-xl border border-slate-800 bg-slate-900/70 p-6">
          <h2 className="mb-4 text-xl uppercase tracking-widest text-slate-300">Children running, per template</h2>
          <ul className="space-y-4" data-testid="wall-lineage">
            {templates.map((t) => {
              const depth = (t as TemplateNode & { depth: number }).depth;
              return (
                <li key={t.id} style={{ paddingLeft: depth * 28 }}>
                  <div className="flex items-baseline gap-3 text-2xl">
                    <span className="text-indigo-300">◆</span>
                    <span className="truncate">{t.name}</span>
                    <span className="ml-auto tabular-nums text-slate-300">
                      {t.counts.running ?? 0}
                      <span className="text-slate-300"> / {t.vmCount}</span>
                    </span>
                  </div>
                  {/* the bar is the label: running of this template's children (not scaled to another template) */}
                  <div
                    className="mt-1 flex h-4 overflow-hidden rounded bg-slate-700"
                    role="meter"
                    aria-label={`${t.name}: running children`}
                    aria-valuemin={0}
                    aria-valuemax={Math.max(1, t.vmCount)}
                    aria-valuenow={t.counts.running ?? 0}
                    data-testid={`wall-bar-${t.name}`}
                    data-fraction={t.vmCount ? (t.counts.running ?? 0) / t.vmCount : 0}
                  >
                    <div className="bg-emerald-500" style={{ width: `${t.vmCount ? ((t.counts.running ?? 0) / t.vmCount) * 100 : 0}%` }} />
                  </div>
                </li>
              );
            })}
            {templates.length === 0 && <li className="text-2xl text-slate-400">No templates yet.</li>}
          </ul>
        </div>
        </div>
      </section>
    </main>
  );
}
