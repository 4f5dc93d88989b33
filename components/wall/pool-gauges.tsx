'use client';
// The wall's pools: per pool a spare/claimed gauge and a live claim counter (SSE 'pool' events
// invalidate the pools query). Its own component so the wall's layout can place it anywhere.
import { usePools } from '@/lib/client/hooks';
import { ms, msFine } from '@/lib/client/format';

export function PoolGauges() {
  const pools = usePools();
  const list = (pools.data ?? []).slice(0, 6);
  const claims = list.reduce((a, p) => a + p.claims, 0);
  if (list.length === 0) return null;
  return (
    <section className="rounded-xl border border-slate-800 bg-slate-900/70 p-6" data-testid="wall-pools">
      <div className="mb-4 flex items-baseline gap-4">
        <h2 className="text-xl uppercase tracking-widest text-slate-400">Pools</h2>
        <span className="ml-auto text-xl text-slate-400">claims</span>
        <span className="text-5xl font-bold tabular-nums text-white" data-testid="wall-claims">
          {claims}
        </span>
      </div>
      <ul className="grid grid-cols-2 gap-x-8 gap-y-4">
        {list.map((p) => {
          const total = Math.max(1, p.size);
          return (
            <li key={p.id} data-testid={`wall-pool-${p.name}`}>
              <div className="flex items-baseline gap-3 text-2xl">
                <span className="truncate">{p.name}</span>
                <span className="ml-auto tabular-nums text-emerald-400" data-testid="wall-pool-spares">
                  {p.ready}
                </span>
                <span className="text-slate-400">spare</span>
                <span className="tabular-nums text-sky-300" data-testid="wall-pool-claimed">
                  {p.claimed}
                </span>
                <span className="text-slate-400">claimed</span>
              </div>
              <div className="mt-1 flex h-3 overflow-hidden rounded bg-slate-800" role="img" aria-label={`${p.ready} spare, ${p.claimed} claimed of ${p.size}`}>
                <div className="bg-sky-500" style={{ width: `${(p.claimed / total) * 100}%` }} />
                <div className="bg-emerald-500" style={{ width: `${(p.ready / total) * 100}%` }} />
                <div className="bg-amber-500/60" style={{ width: `${(p.refilling / total) * 100}%` }} />
              </div>
              <div className="mt-1 text-lg tabular-nums text-slate-400">
                {p.claims} claims · p50 {p.claimLatencyMs.p50 === null ? '–' : msFine(p.claimLatencyMs.p50)}
                {p.push ? ` · push ${p.push.done}/${p.push.total}` : ''}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
