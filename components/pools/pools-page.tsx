'use client';
// The Pools page: every pool with its counts and actions, and a form to create one.
import { usePools, useCan } from '@/lib/client/hooks';
import { ErrorNote, Panel } from '@/components/ui/misc';
import { CreatePoolForm } from './create-pool-form';
import { PoolCard } from './pool-card';

export function PoolsPage() {
  const pools = usePools();
  const can = useCan('operator');
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold text-white">Pools</h1>
      <p className="text-sm text-slate-400">
        Spare children kept forked, identified and running; a claim hands one out in milliseconds and the pool refills in the background.
      </p>
      {can && (
        <Panel title="New pool">
          <CreatePoolForm />
        </Panel>
      )}
      {pools.error && <ErrorNote error={pools.error} />}
      {pools.data?.length === 0 && <p className="text-sm text-slate-400">No pools yet.</p>}
      <div className="space-y-4" data-testid="pools">
        {pools.data?.map((p) => <PoolCard key={p.id} pool={p} />)}
      </div>
    </div>
  );
}
