// Claim latency (p50/p95 over the last hour, from the event log) and refill rate (kept in memory).
import { db } from '../../db';

const HOUR = 3600_000;

export function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Each claim writes one event whose message starts with "claimMs=X" (durationMs is whole ms only). */
export async function claimLatency(poolId: string): Promise<{ p50: number | null; p95: number | null; n: number; total: number }> {
  const since = new Date(Date.now() - HOUR);
  const rows = await db().event.findMany({ where: { action: 'pool.claim', targetId: poolId, result: 'ok', at: { gte: since } }, select: { message: true } });
  const ms = rows.map((r) => Number(/claimMs=([\d.]+)/.exec(r.message ?? '')?.[1])).filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
  const total = await db().event.count({ where: { action: 'pool.claim', targetId: poolId, result: 'ok' } });
  return { p50: percentile(ms, 0.5), p95: percentile(ms, 0.95), n: ms.length, total };
}

/** Spares forked per pool: when each became ready and what it cost. */
export class RefillLog {
  private entries: { poolId: string; at: number; ms: number }[] = [];

  add(poolId: string, ms: number, count: number) {
    const at = Date.now();
    for (let i = 0; i < count; i++) this.entries.push({ poolId, at, ms: ms / count });
    const cut = at - HOUR;
    while (this.entries.length && this.entries[0].at < cut) this.entries.shift();
  }

  /** spares per minute over the last 10 minutes, and the mean fork time per spare over the last hour */
  rate(poolId: string): { perMinute: number; meanMs: number | null; lastAt: string | null } {
    const mine = this.entries.filter((e) => e.poolId === poolId);
    const recent = mine.filter((e) => e.at > Date.now() - 600_000);
    const meanMs = mine.length ? Math.round(mine.reduce((a, e) => a + e.ms, 0) / mine.length) : null;
    return { perMinute: Math.round((recent.length / 10) * 10) / 10, meanMs, lastAt: mine.length ? new Date(mine[mine.length - 1].at).toISOString() : null };
  }
}
