// A child's pool membership, in the lineage tree and on the VM page: which pool, spare or claimed, by whom.
import { Badge } from '@/components/ui/misc';
import type { Vm } from '@/lib/client/types';

export function PoolBadge({ pool }: { pool: Vm['pool'] }) {
  if (!pool) return null;
  const claimed = pool.state === 'claimed';
  const who = claimed ? ` by ${pool.claimedBy ?? '?'}${pool.label ? ` (${pool.label})` : ''}` : '';
  return (
    // one line that shrinks with an ellipsis (the full text in the title): a lineage row is one line high
    <span data-testid="pool-badge" className="flex min-w-0">
      <Badge tone={claimed ? 'sky' : 'emerald'} title={`pool ${pool.pool}: ${pool.state}${who}`} className="min-w-0">
        <span className="truncate">{`pool ${pool.pool}: ${pool.state}${who}`}</span>
      </Badge>
    </span>
  );
}
