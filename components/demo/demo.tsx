'use client';
// The demo: one button. Prepares a tiny parent if there is none, forks 20 children, and charts each
// child's fork time next to the cold boot measured in this run (or the template's recorded boot).
// The count can be lowered (a small host, a quick look); 20 is the default.
import Link from 'next/link';
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Cell, LabelList, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { SerialConsole } from '@/components/vm/serial-console';
import { fetchLs } from '@/lib/client/api/host';
import { fetchTemplate } from '@/lib/client/api/templates';
import { forkAction, prepareAction } from '@/app/actions/templates';
import { bulkVmAction } from '@/app/actions/vms';
import { unwrap } from '@/lib/client/actions';
import { untilDone } from '@/lib/client/operation-watch';
import { forkNote, prepareNote } from '@/lib/client/end-notes';
import { invalidate } from '@/lib/client/query-keys';
import { errorText } from '@/lib/client/api/http';
import { useCan, useLs } from '@/lib/client/hooks';
import { ms, plural, randomSuffix } from '@/lib/client/format';
import type { ForkResult } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';
import { identityCheck } from '@/components/template/fork-dialog';
import { describeZodError, forkSchema } from '@/lib/validations';

const DEFAULT_COUNT = 20;

/** One unit on the whole page: whole milliseconds. */
const msText = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${Math.round(v).toLocaleString('en-US')} ms`);

/** min, median, p95, max of the per-child times. */
export function distribution(xs: number[]): { min: number; median: number; p95: number; max: number } | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { min: s[0], median: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}

export function Demo() {
  const can = useCan('operator');
  const qc = useQueryClient();
  const [phase, setPhase] = useState<'idle' | 'preparing' | 'forking' | 'done' | 'cleaning'>('idle');
  const [log, setLog] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [countText, setCountText] = useState(String(DEFAULT_COUNT));
  const [run, setRun] = useState<{ template: string; bootMs: number | undefined; bootMeasuredNow: boolean; fork: ForkResult } | null>(null);
  const ls = useLs();
  const [preparing, setPreparing] = useState<string | null>(null);
  // the parent being booted for the demo template, shown live while it boots
  const parent = preparing ? ls.data?.vms.find((v) => v.kind === 'parent' && v.name === `${preparing}.parent`) : undefined;
  const say = (l: string) => setLog((x) => [...x.slice(-30), `${new Date().toLocaleTimeString()}  ${l}`]);

  async function go() {
    setError(null);
    const parsed = forkSchema.safeParse({ count: countText.trim() === '' ? undefined : Number(countText) });
    if (!parsed.success) {
      setError(describeZodError(parsed.error));
      return;
    }
    const COUNT = parsed.data.count;
    setRun(null);
    setLog([]);
    try {
      const ls = await fetchLs();
      let t = ls.templates.find((x) => x.state === 'frozen' && x.name.startsWith('demo-') && x.image === 'tiny') ?? ls.templates.find((x) => x.state === 'frozen' && x.name.startsWith('demo-'));
      let bootMs = t ? (await fetchTemplate(t.id)).timings.bootMs : undefined; // list rows carry no timings
      let measuredNow = false;
      if (!t) {
        setPhase('preparing');
        const name = `demo-${randomSuffix()}`;
        setPreparing(name);
        say(`no demo template: preparing ${name} from the tiny image (cold boot, warm-up, freeze, ${COUNT} prelaunched slots)…`);
        const r = await untilDone(prepareAction({ image: 'tiny', name, warmup: [], slots: COUNT, prelaunch: true, quiesce: false, memory: 256, vcpus: 1 }), prepareNote(name));
        bootMs = r.timings.bootMs;
        measuredNow = true;
        say(`${name} frozen: cold boot ${ms(r.timings.bootMs)}, freeze ${ms(r.timings.freezeMs)}`);
        t = (await fetchLs()).templates.find((x) => x.id === r.id || x.name === r.name);
        if (!t) throw new Error(`The template ${name} was prepared but is not listed.`);
      } else say(`using template ${t.name} (cold boot recorded at prepare: ${ms(bootMs)})`);
      setPhase('forking');
      say(`forking ${COUNT} children of ${t.name}…`);
      const f: ForkResult = await untilDone(forkAction({ ref: t.id, count: COUNT, persistent: false, prefix: `${t.name}-d${randomSuffix(3)}` }), forkNote({ name: t.name, href: `/templates/${t.name}` }));
      say(`${plural(f.children.length, 'child', 'children')} up in ${ms(f.timings.totalMs)}`);
      setRun({ template: t.name, bootMs, bootMeasuredNow: measuredNow, fork: f });
      setPhase('done');
    } catch (e) {
      setError(errorText(e));
      setPhase('idle');
    } finally {
      setPreparing(null);
      invalidate(qc, 'template', 'vm');
    }
  }

  async function cleanup() {
    if (!run) return;
    setPhase('cleaning');
    const s = await unwrap(bulkVmAction({ action: 'delete', refs: run.fork.children.map((c) => c.id) })).catch((e) => (say(errorText(e)), { results: [] }));
    say(`deleted ${s.results.filter((x) => x.ok).length} of ${run.fork.children.length} demo children`);
    setRun(null);
    setPhase('idle');
    invalidate(qc, 'vm');
  }

  const busy = phase === 'preparing' || phase === 'forking' || phase === 'cleaning';
  const per = run?.fork.timings.perChildMs ?? [];
  const chart = run
    ? [
        ...(run.bootMs ? [{ name: 'cold boot', ms: Math.round(run.bootMs), kind: 'boot' }] : []),
        ...run.fork.children.map((c, i) => ({ name: c.name.replace(/^.*-/, '#'), ms: Math.round(per[i] ?? run.fork.timings.totalMs / run.fork.children.length), kind: 'clone' })),
      ]
    : [];
  const avg = per.length ? per.reduce((a, b) => a + b, 0) / per.length : run ? run.fork.timings.totalMs / Math.max(1, run.fork.children.length) : 0;
  const check = run ? identityCheck(run.fork.children) : null;
  const dist = distribution(per);
  const sources = run?.fork.details
    ? Object.entries(run.fork.details.reduce<Record<string, number>>((a, d) => ((a[d.source] = (a[d.source] ?? 0) + 1), a), {}))
        .map(([s, n]) => `${n} from ${s === 'prelaunched' ? 'prelaunched VMMs' : s === 'slot' ? 'registered slots' : 'fresh VMMs'}`)
        .join(', ')
    : '';
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-end gap-4">
        <h1 className="text-xl font-semibold text-white">Demo: instant clone vs cold boot</h1>
        <label className="text-xs text-slate-400">
          Children
          <input
            type="number"
            min={1}
            value={countText}
            onChange={(e) => setCountText(e.target.value)}
            disabled={!can || busy}
            className="mt-0.5 block w-20 rounded border border-slate-700 bg-slate-900 px-2 py-1 text-sm text-slate-100"
          />
        </label>
        <Button variant="primary" onClick={go} disabled={!can || phase === 'preparing' || phase === 'forking' || phase === 'cleaning'} busy={phase === 'preparing' || phase === 'forking'} data-testid="demo-run">
          {phase === 'preparing' ? 'Preparing the parent…' : phase === 'forking' ? `Forking ${countText}…` : `Fork ${countText} children`}
        </Button>
        {run && (
          <Button onClick={cleanup} disabled={phase === 'cleaning'} busy={phase === 'cleaning'}>
            Delete the {run.fork.children.length} demo children
          </Button>
        )}
        {!can && <span className="text-xs text-slate-400">Needs the operator role.</span>}
      </div>
      <ErrorNote error={error} />
      {run && (
        <div className="grid gap-4 lg:grid-cols-[1fr_20rem]">
          <section className="rounded-md border border-slate-800 bg-slate-900/70 p-3" data-testid="demo-chart">
            <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-400">
              Time to a ready VM, in ms (amber: cold boot, blue: each child) — cold boot {run.bootMeasuredNow ? 'measured in this run' : `recorded when ${run.template} was prepared`}
            </h2>
            <div className="h-80">
              <ResponsiveContainer width="100%" height="100%">
                <BarChart data={chart}>
                  <CartesianGrid strokeDasharray="3 3" stroke="#1e293b" />
                  <XAxis dataKey="name" stroke="#cbd5e1" tick={{ fontSize: 11 }} interval={0} />
                  <YAxis stroke="#cbd5e1" unit=" ms" width={80} />
                  <Tooltip contentStyle={{ background: '#0f172a', border: '1px solid #334155' }} formatter={(v) => [`${v} ms`, 'ready after']} />
                  {run.bootMs && <ReferenceLine y={run.bootMs} stroke="#f59e0b" strokeDasharray="4 4" />}
                  <Bar dataKey="ms" isAnimationActive={false}>
                    {chart.map((d) => (
                      <Cell key={d.name} fill={d.kind === 'boot' ? '#f59e0b' : '#38bdf8'} />
                    ))}
                    <LabelList dataKey="ms" position="top" fill="#e2e8f0" fontSize={chart.length > 12 ? 9 : 11} formatter={(v: unknown) => `${v}`} />
                  </Bar>
                </BarChart>
              </ResponsiveContainer>
            </div>
          </section>
          <section className="space-y-2 rounded-md border border-slate-800 bg-slate-900/70 p-3 text-sm">
            <div data-testid="demo-cold-boot" data-value={run.bootMs ?? ''}>
              <div className="text-xs text-slate-400">Cold boot{run.bootMeasuredNow ? ' (this run)' : ' (recorded)'}</div>
              <div className="text-2xl font-semibold text-amber-300">{msText(run.bootMs)}</div>
            </div>
            <div data-testid="demo-clone-avg" data-value={avg}>
              <div className="text-xs text-slate-400">Instant clone (avg per child)</div>
              <div className="text-2xl font-semibold text-sky-300">{msText(avg)}</div>
            </div>
            <div data-testid="demo-total" data-value={run.fork.timings.totalMs}>
              <div className="text-xs text-slate-400">All {run.fork.children.length} children</div>
              <div className="text-2xl font-semibold text-slate-100">{msText(run.fork.timings.totalMs)}</div>
            </div>
            {dist && (
              <dl className="grid grid-cols-4 gap-1 text-center text-xs" data-testid="demo-distribution" aria-label="Per child, in ms">
                {(['min', 'median', 'p95', 'max'] as const).map((k) => (
                  <div key={k} className="rounded bg-slate-950 px-1 py-1">
                    <dt className="text-slate-400">{k}</dt>
                    <dd className="font-mono text-slate-100">{Math.round(dist[k])}</dd>
                  </div>
                ))}
              </dl>
            )}
            <p className="text-xs text-slate-300" data-testid="demo-measured">
              Measured in this run: {plural(run.fork.children.length, 'child', 'children')} forked together (up to 4 at once on this host)
              {sources ? `, ${sources}` : ''}; a child&apos;s time runs from its start to its identity verified inside the guest. The Performance page&apos;s ratio comes from
              the benchmark (one child at a time, idle host), so it is higher than a burst on a busy host.
            </p>
            {run.bootMs && avg > 0 && <p className="text-slate-300" data-testid="demo-ratio">{Math.round(run.bootMs / avg)}× faster than booting.</p>}
            {check && <p data-testid="demo-identity" className={check.ok ? 'text-emerald-300' : 'text-rose-300'}>{check.ok ? 'Every child has its own hostname, MAC, IP, machine-id and vmgenid.' : check.problems.slice(0, 3).join('; ')}</p>}
            <Link prefetch={false} href={`/templates/${run.template}`} className="text-sky-400 underline">
              Open {run.template}
            </Link>
          </section>
        </div>
      )}
      {phase === 'preparing' && (
        <section aria-label="The parent booting" className="rounded-md border border-slate-800 bg-slate-900/70 p-3" data-testid="demo-parent">
          <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-300">The parent {preparing} booting, live (its serial console)</h2>
          {parent ? <SerialConsole vmRef={parent.id} canType={false} rows={14} readOnlyReason="view only while the parent is prepared" /> : <p className="text-sm text-slate-300">Starting QEMU…</p>}
        </section>
      )}
      {log.length > 0 && <pre className="rounded border border-slate-800 bg-black/40 p-3 font-mono text-xs text-slate-300">{log.join('\n')}</pre>}
      {!run && log.length === 0 && (
        <p className="max-w-2xl text-sm text-slate-400">
          One click: if there is no demo template yet, a tiny parent is booted, frozen and given one prelaunched slot per child; then the children (20 unless you choose another number) are forked from it. The chart shows how long each child took
          to be ready next to the cold boot of the same image.
        </p>
      )}
    </div>
  );
}
