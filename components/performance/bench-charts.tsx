'use client';
// Charts for bench/results/latest.json. The file's exact layout belongs to the benchmark, so this finds
// every summary ({median, p95, …}) in it, labels it by its path, and charts median and p95 side by side.
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

interface Row {
  label: string;
  median: number;
  p95?: number;
  n?: number;
  unit: string;
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
  const rows: Row[] = [];
  collect(data, [], rows);
  const groups = [
    { unit: 'ms', title: 'Times (ms): median and p95', rows: rows.filter((r) => r.unit === 'ms') },
    { unit: 'bytes', title: 'Memory (MiB): median and p95', rows: rows.filter((r) => r.unit === 'bytes').map((r) => ({ ...r, median: r.median / 2 ** 20, p95: r.p95 === undefined ? undefined : r.p95 / 2 ** 20 })) },
  ].filter((g) => g.rows.length);
  const meta = data as { startedAt?: string; host?: unknown; accel?: string };
  return (
    <div className="space-y-4">
      <p className="text-sm text-slate-400">
        From <code>{file}</code>, written {new Date(mtime).toLocaleString()}
        {meta.accel ? ` · ${meta.accel}` : ''}.
      </p>
      {groups.map((g) => (
        <section key={g.unit} className="rounded-md border border-slate-800 bg-slate-900/70 p-3">
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
      {groups.length === 0 && <p className="text-sm text-slate-400">The file has no summaries (median/p95) to chart.</p>}
      <details className="rounded border border-slate-800">
        <summary className="cursor-pointer px-3 py-1 text-xs text-slate-400">Raw results</summary>
        <pre className="max-h-96 overflow-auto px-3 py-2 font-mono text-[11px] text-slate-300">{JSON.stringify(data, null, 2)}</pre>
      </details>
    </div>
  );
}
