import fs from 'node:fs/promises';
import path from 'node:path';
import { BenchCharts } from '@/components/performance/bench-charts';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Performance · Instaclone' };

const FILE = 'bench/results/latest.json';

async function readBench(): Promise<{ data: unknown; mtime: string } | { error: string } | null> {
  const file = path.join(process.cwd(), FILE);
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    return { data: JSON.parse(text), mtime: st.mtime.toISOString() };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { error: `${FILE} cannot be read: ${(e as Error).message}` };
  }
}

export default async function PerformancePage() {
  const bench = await readBench();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold text-white">Performance</h1>
      {bench === null ? (
        <p className="rounded border border-slate-800 bg-slate-900 px-4 py-6 text-slate-300" data-testid="no-bench">
          No benchmark run yet — run <code className="rounded bg-slate-800 px-1">npm run bench</code>.
        </p>
      ) : 'error' in bench ? (
        <p role="alert" className="text-rose-300">
          {bench.error}
        </p>
      ) : (
        <BenchCharts data={bench.data} file={FILE} mtime={bench.mtime} />
      )}
    </div>
  );
}
