// A console on PostgreSQL also sweeps hosts that stopped heartbeating (lost), so a cluster whose
// agents all died still shows them lost. Idempotent with the agents' own sweeps.
import { lostAfterSeconds, sweepLost } from './hosts';
import { clusterCapable } from './pg';
import { startPoolPlanner } from './pools';

export function startClusterWatch(): NodeJS.Timeout | null {
  if (!clusterCapable()) return null;
  const t = setInterval(() => void sweepLost().catch(() => undefined), Math.max(1, lostAfterSeconds() / 3) * 1000);
  t.unref();
  startPoolPlanner(); // pools spread over hosts: shares follow lost, draining and returning hosts
  return t;
}
