'use client';
// Charts for bench/results/latest.json. The file's exact layout belongs to the benchmark, so this finds
// every summary ({median, p95, …}) in it, labels it by its path, and charts median and p95 side by side.
// The benchmark's own schema (instaclone-bench/1: metrics with label, unit, median, p95, value; targets)
// is read as such: key figures first (cold boot, fork of one child, their ratio), charts by unit.
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ms, utcMinute } from '@/lib/client/format';

interface Row {
  label: string;
  median: number;
  p95?: number;
  n?: number;
  unit: string;
}

interface Metric {
  label?: string;
  unit?: string;
  n?: number;
  median?: number;
  p95?: number;
  value?: number;
}
interface Target {
  id: string;
  label: string;
  value: number | null;
  unit: string;
  target: number;
  op: string;
  pass: boolean | null;
  boundBy?: string | null;
}
/** bench/qemu/compare.ts: the same figures on two QEMUs in one run */
interface QemuCompare {
  rounds: number;
  children: number;
  runs: { binary: string; version: string; median: Record<string, number | null> }[];
  ratio: Record<string, number | null>;
}
interface Bench {
  schema?: string;
  mode?: string;
  startedAt?: string;
  machine?: { accel?: string; cores?: number; qemuVersion?: string };
  metrics?: Record<string, Metric>;
  targets?: Target[];
  qemuCompare?: QemuCompare | null;
}

const COMPARE_ROWS: [string, string, string][] = [
  ['coldBootMs', 'Cold boot to agent-ready', 'ms'],
  ['fork1Ms', 'Fork of one child (prelaunched slot)', 'ms'],
  ['fork1CpuMs', 'CPU of that child, fork to ready', 'ms'],
  ['forkNMs', 'Fork of N children (fresh VMMs), all ready', 'ms'],
  ['forkNCpuMs', 'CPU per child of those N, fork to ready', 'ms'],
  ['pssPerChildMiB', 'PSS per idle child', 'MiB'],
  ['idleCpuPerChildPct', 'CPU per idle child', '% core'],
];

function QemuSideBySide({ c }: { c: QemuCompare }) {
  const [a, b] = c.runs;
  if (!a || !b) return null;
  const f = (v: number | null | undefined) => (v == null ? '–' : v >= 100 ? String(Math.round(v)) : v.toFixed(2));
  return (
    <section className="rounded-md border border-slate-800 bg-slate-900/70 p-3">
      <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-400">
        QEMU {a.version} vs {b.version}, same guest, same run (medians of {c.rounds} round(s), N = {c.children})
      </h2>
      <table className="w-full text-left text-sm" data-testid="bench-qemu-compare">
        <thead className="text-xs text-slate-400">
          <tr>
            <th className="py-1 font-normal">figure</th>
            <th className="font-normal">QEMU {a.version}</th>
            <th className="font-normal">QEMU {b.version}</th>
            <th className="font-normal">{b.version} ÷ {a.version}</th>
          </tr>
        </thead>
        <tbody>
          {COMPARE_ROWS.map(([k, label, unit]) => (
            <tr key={k} className="border-t border-slate-800/60">
              <td className="py-1 pr-3 text-slate-300">{label}</td>
              <td className="whitespace-nowrap pr-3 font-mono text-slate-100">{f(a.median[k])} {unit}</td>
              <td className="whitespace-nowrap pr-3 font-mono text-slate-100">{f(b.median[k])} {unit}</td>
              <td className="whitespace-nowrap font-mono text-slate-400">{c.ratio[k] == null ? '–' : `${c.ratio[k]}×`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const num = (m: Metric | undefined) => (typeof m?.median === 'number' ? m.median : typeof m?.value === 'number' ? m.value : undefined);

/** Rows of the schema's metrics (those with a median), grouped by their own unit. */
function metricRows(metrics: Record<string, Metric>): Row[] {
  return Object.entries(metrics)
    .filter(([, m]) => typeof m.median === 'number')
    .map(([k, m]) => ({ label: m.label ?? k, median: m.median as number, p95: m.p95, n: m.n, unit: m.unit ?? '' }));
}

function Figure({ id, label, value, text, note }: { id: string; label: string; value: number | undefined; text: string; note?: string }) {
  return (
    <div className="rounded-md border border-slate-800 bg-slate-900/70 px-4 py-3" data-testid={id} data-value={value ?? ''}>
      <div className="text-xs text-slate-400">{label}</div>
      <div className="text-2xl font-semibold text-slate-100">{text}</div>
      {note && <div className="text-[11px] text-slate-400">{note}</div>}
    </div>
  );
}

function KeyFigures({ b }: { b: Bench }) {
  const m = b.metrics ?? {};
  const cold = num(m['coldBoot.readyMs']);
  const forkPre = num(m['fork1.prelaunched.readyMs']);
  const forkFresh = num(m['fork1.fresh.readyMs']);
  const fork = forkPre ?? forkFresh;
  const ratio = num(m['fork1.speedup']) ?? (cold && fork ? cold / fork : undefined);
  return (
    <div className="grid gap-3 sm:grid-cols-2 xl:grid-cols-4" data-testid="bench-figures">
      <Figure id="bench-cold-boot" label="Cold boot to agent-ready (median)" value={cold} text={ms(cold)} note={m['coldBoot.readyMs']?.n ? `${m['coldBoot.readyMs'].n} runs` : undefined} />
      <Figure id="bench-fork" label={`Fork of one child (median, ${forkPre !== undefined ? 'prelaunched slot' : 'fresh VMM'})`} value={fork} text={ms(fork)} note={forkPre !== undefined && forkFresh !== undefined ? `fresh VMM: ${ms(forkFresh)}` : undefined} />
      <Figure id="bench-ratio" label="Cold boot ÷ fork" value={ratio} text={ratio === undefined ? '–' : `${Number(ratio.toFixed(1))}×`} note="medians; how many times faster a child is ready than a cold boot" />
      <Figure
        id="bench-throughput"
        label="100 children ready (prelaunched slots)"
        value={num(m['throughput.prelaunched.100.totalMs'])}
        text={ms(num(m['throughput.prelaunched.100.totalMs']))}
        note={num(m['throughput.fresh.100.totalMs']) !== undefined ? `fresh VMMs: ${ms(num(m['throughput.fresh.100.totalMs']))}` : undefined}
      />
    </div>
  );
}

function Targets({ targets }: { targets: Target[] }) {
  return (
    <section className="rounded-md border border-slate-800 bg-slate-900/70 p-3">
      <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-400">Targets</h2>
      <table className="stack w-full text-left text-sm" data-testid="bench-targets">
        <thead className="text-xs text-slate-400">
          <tr>
            <th className="py-1 font-normal">measure</th>
            <th className="font-normal">value</th>
            <th className="font-normal">target</th>
            <th className="font-normal">result</th>
          </tr>
        </thead>
        <tbody>
          {targets.map((t) => (
            <tr key={t.id} className="border-t border-slate-800/60 align-top" data-testid={`target-${t.id}`}>
              <td className="py-1 pr-3 text-slate-300" data-label="measure">
                {t.label}
                {t.boundBy && <div className="text-[11px] text-slate-400">{t.boundBy}</div>}
              </td>
              <td className="whitespace-nowrap pr-3 font-mono text-slate-100" data-label="value">
                {t.value ?? '–'} {t.unit}
              </td>
              <td className="whitespace-nowrap pr-3 font-mono text-slate-300" data-label="target">
                {t.op} {t.target} {t.unit}
              </td>
              <td className={t.pass ? 'text-emerald-300' : t.pass === false ? 'text-amber-300' : 'text-slate-400'} data-label="result">{t.pass ? 'met' : t.pass === false ? 'not met' : 'not measured'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function collect(v: unknown, path: string[], out: Row[]) {
  if (!v || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => collect(x, [...path, (x as { name?: string })?.name ?? String(i)], out));
    return;
  }
  const o = v as Record<string, unknown>;
  if (typeof o.median === 'number') {
    const label = path.filter((p) => p !== 'summary' && p !== 'stats').join(' · ') || 'value';
    const unit = /bytes|pss|rss|mem/i.test(label) ? 'bytes' : 'ms';
    out.push({ label, median: o.median, p95: typeof o.p95 === 'number' ? o.p95 : undefined, n: typeof o.n === 'number' ? o.n : undefined, unit });
    return;
  }
  for (const [k, x] of Object.entries(o)) collect(x, [...path, k], out);
}

export function BenchCharts({ data, file, mtime }: { data: unknown; file: string; mtime: string }) {
  const b = (data ?? {}) as Bench;
  const known = !!b.metrics && typeof b.metrics === 'object';
  let groups: { unit: string; title: string; rows: Row[] }[];
  if (known) {
    const rows = metricRows(b.metrics!);
    const units = [...new Set(rows.map((r) => r.unit))];
    const TITLES: Record<string, string> = { ms: 'Times (ms): median and p95', MiB: 'Memory (MiB): median and p95', '%core': 'CPU (% of one core): median and p95', '%': 'Shares (%): median and p95' };
    groups = units.map((u) => ({ unit: u, title: TITLES[u] ?? `${u}: median and p95`, rows: rows.filter((r) => r.unit === u) }));
  } else {
    const rows: Row[] = [];
    collect(data, [], rows);
    groups = [
      { unit: 'ms', title: 'Times (ms): median and p95', rows: rows.filter((r) => r.unit === 'ms') },
      { unit: 'bytes', title: 'Memory (MiB): median and p95', rows: rows.filter((r) => r.unit === 'bytes').map((r) => ({ ...r, median: r.median / 2 ** 20, p95: r.p95 === undefined ? undefined : r.p95 / 2 ** 20 })) },
    ].filter((g) => g.rows.length);
  }
  const meta = data as { startedAt?: string; host?: unknown; accel?: string };
  const accel = b.machine?.accel ?? meta.accel;
  return (
    <div className="space-y-4">
      <p className="text-sm text-slate-400">
        From <code>{file}</code>, written <time dateTime={mtime}>{utcMinute(mtime)}</time>
        {b.mode ? ` · ${b.mode} run` : ''}
        {accel ? ` · ${accel.toUpperCase()}` : ''}
        {b.machine?.cores ? ` · ${b.machine.cores} cores` : ''}
        {b.machine?.qemuVersion ? ` · QEMU ${b.machine.qemuVersion}` : ''}.
      </p>
      {known && <KeyFigures b={b} />}
      {groups.map((g) => (
        <section key={g.unit} className="rounded-md border border-slate-800 bg-slate-900/70 p-3" data-testid={`bench-chart-${g.unit}`}>
          <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-400">{g.title}</h2>
          <div style={{ height: Math.max(240, g.rows.length * 34 + 60) }}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={g.rows} layout="vertical" margin={{ left: 20, right: 20 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#1e293b" />
                <XAxis type="number" stroke="#94a3b8" />
                <YAxis type="category" dataKey="label" width={260} stroke="#94a3b8" tick={{ fontSize: 11 }} />
                <Tooltip contentStyle={{ background: '#0f172a', border: '1px solid #334155' }} formatter={(v) => (typeof v === 'number' ? v.toFixed(1) : String(v))} />
                <Legend />
                <Bar dataKey="median" fill="#38bdf8" name="median" />
                <Bar dataKey="p95" fill="#818cf8" name="p95" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </section>
      ))}
      {known && Array.isArray(b.targets) && b.targets.length > 0 && <Targets targets={b.targets} />}
      {known && b.qemuCompare && <QemuSideBySide c={b.qemuCompare} />}
      {groups.length === 0 && <p className="text-sm text-slate-400">The file has no summaries (median/p95) to chart.</p>}
      <details className="rounded border border-slate-800">
        <summary className="cursor-pointer px-3 py-1 text-xs text-slate-400">Raw results</summary>
        <pre className="max-h-96 overflow-y-auto px-3 py-2 font-mono text-[11px] whitespace-pre-wrap text-slate-300 [overflow-wrap:anywhere]">{JSON.stringify(data, null, 2)}</pre>
      </details>
    </div>
  );
}
