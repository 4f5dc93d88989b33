'use client';
// The demo's pool scenario: a pool of spares, then a burst of claims, with claim latency shown beside
// the fork of one child and the cold boot — all measured in this run (the cold boot only when the
// demo template is prepared now; otherwise the one recorded at its prepare, and the page says so).
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { fetchLs } from '@/lib/client/api/host';
import { fetchTemplate } from '@/lib/client/api/templates';
import { forkAction, prepareAction } from '@/app/actions/templates';
import { removeVmAction } from '@/app/actions/vms';
import { createPoolAction, removePoolAction } from '@/app/actions/pools';
import { unwrap } from '@/lib/client/actions';
import { untilDone } from '@/lib/client/operation-watch';
import { forkNote, prepareNote } from '@/lib/client/end-notes';
import { invalidate } from '@/lib/client/query-keys';
// the claim burst goes through REST on purpose: it measures what a client of the API sees, ten claims
// at once (a page's server actions are sent one at a time, which would turn the burst into a queue)
import { claimFromPool, fetchPools } from '@/lib/client/api/pools';
import { errorText } from '@/lib/client/api/http';
import { useCan } from '@/lib/client/hooks';
import { ms, msFine, randomSuffix } from '@/lib/client/format';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';

const SPARES = 4;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

interface Result {
  pool: string;
  bootMs: number | undefined;
  bootNow: boolean;
  forkMs: number;
  fillMs: number;
  burstMs: number;
  claimMs: number[];
  engineMs: number[];
}

export function PoolDemo() {
  const can = useCan('operator');
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [step, setStep] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [res, setRes] = useState<Result | null>(null);

  async function go() {
    setBusy(true);
    setError(null);
    setRes(null);
    try {
      let t = (await fetchLs()).templates.find((x) => x.state === 'frozen' && x.name.startsWith('demo-'));
      let bootMs = t ? (await fetchTemplate(t.id)).timings.bootMs : undefined; // list rows carry no timings
      const bootNow = !t;
      if (!t) {
        setStep('preparing a demo template (cold boot)…');
        const name = `demo-${randomSuffix()}`;
        const r = await untilDone(prepareAction({ image: 'tiny', name, warmup: [], slots: 0, prelaunch: false, quiesce: false, memory: 256, vcpus: 1 }), prepareNote(name));
        bootMs = r.timings.bootMs;
        t = (await fetchLs()).templates.find((x) => x.id === r.id);
        if (!t) throw new Error('The demo template was prepared but is not listed.');
      }
      setStep('forking one child…');
      const f = await untilDone(forkAction({ ref: t.id, count: 1, persistent: false, prefix: `${t.name}-p${randomSuffix(3)}` }), forkNote({ name: t.name, href: `/templates/${t.name}` }));
      await unwrap(removeVmAction({ ref: f.children[0].id, force: true }));
      const pool = `demo-pool-${randomSuffix()}`;
      setStep(`filling ${pool} with ${SPARES} spares…`);
      const f0 = performance.now();
      await unwrap(createPoolAction({ name: pool, template: t.id, size: SPARES, spares: SPARES }));
      for (;;) {
        const p = (await fetchPools()).find((x) => x.name === pool);
        if (p && p.ready >= SPARES) break;
        if (p?.error) throw new Error(p.error);
        await sleep(250);
      }
      const fillMs = performance.now() - f0;
      setStep(`burst: ${SPARES} claims at once…`);
      const b0 = performance.now();
      const claims = await Promise.all(
        Array.from({ length: SPARES }, async () => {
          const c0 = performance.now();
          const c = await claimFromPool(pool, { label: 'demo' });
          return { ms: performance.now() - c0, engine: c.claimMs };
        }),
      );
      setRes({ pool, bootMs, bootNow, forkMs: f.timings.totalMs, fillMs, burstMs: performance.now() - b0, claimMs: claims.map((c) => c.ms), engineMs: claims.map((c) => c.engine) });
      setStep('');
    } catch (e) {
      setError(errorText(e));
      setStep('');
    } finally {
      setBusy(false);
      invalidate(qc, 'pool');
    }
  }

  async function cleanup() {
    if (!res) return;
    setBusy(true);
    await unwrap(removePoolAction({ ref: res.pool })).catch((e) => setError(errorText(e)));
    setRes(null);
    setBusy(false);
  }

  return (
    <section className="space-y-3 rounded-md border border-slate-800 bg-slate-900/70 p-3" data-testid="pool-demo">
      <div className="flex flex-wrap items-center gap-3">
        <h2 className="text-lg font-semibold text-white">Pool: spares claimed in a burst</h2>
        <Button variant="primary" onClick={go} busy={busy && !!step} disabled={!can || busy} data-testid="pool-demo-run">
          Run the pool scenario ({SPARES} spares)
        </Button>
        {res && (
          <Button onClick={cleanup} disabled={busy}>
            Remove {res.pool}
          </Button>
        )}
        {step && <span className="text-sm text-slate-400">{step}</span>}
      </div>
      <ErrorNote error={error} />
      {res && (
        <div className="grid grid-cols-2 gap-3 text-sm md:grid-cols-4">
          <div data-testid="pool-demo-cold" data-value={res.bootMs ?? ''}>
            <div className="text-xs text-slate-400">Cold boot{res.bootNow ? ' (this run)' : ' (recorded at prepare)'}</div>
            <div className="text-2xl font-semibold text-amber-300">{ms(res.bootMs)}</div>
          </div>
          <div data-testid="pool-demo-fork" data-value={res.forkMs}>
            <div className="text-xs text-slate-400">Fork of one child (this run)</div>
            <div className="text-2xl font-semibold text-sky-300">{ms(res.forkMs)}</div>
          </div>
          <div data-testid="pool-demo-claim" data-value={median(res.claimMs)}>
            <div className="text-xs text-slate-400">Claim from the pool, median of {res.claimMs.length} (browser · engine)</div>
            <div className="text-2xl font-semibold text-emerald-300">
              {msFine(median(res.claimMs))} <span className="text-base text-slate-400">· {msFine(median(res.engineMs))}</span>
            </div>
          </div>
          <div data-testid="pool-demo-burst" data-value={res.burstMs}>
            <div className="text-xs text-slate-400">
              Burst of {res.claimMs.length} claims · pool filled in {ms(res.fillMs)}
            </div>
            <div className="text-2xl font-semibold text-slate-100">{ms(res.burstMs)}</div>
          </div>
        </div>
      )}
    </section>
  );
}
