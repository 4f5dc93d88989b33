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

/** One spare made: when it was ready and what its fork cost. */
export interface RefillEntry {
  at: number;
  ms: number;
}

/**
 * Each successful refill writes one 'pool.refill' event: its durationMs is the fork, and its message
 * starts with "spares=N" (N children in that fork). Read from the log, so a restart keeps the rate and
 * a console can add up the rates that agents log in their own schemas (lib/cluster/pools.ts).
 */
export function refillEntries(rows: { at: Date; message: string | null; durationMs: number | null }[]): RefillEntry[] {
  const out: RefillEntry[] = [];
  for (const r of rows) {
    const n = Math.max(1, Math.min(500, Number(/^spares=(\d+)/.exec(r.message ?? '')?.[1] ?? 1)));
    for (let i = 0; i < n; i++) out.push({ at: r.at.getTime(), ms: (r.durationMs ?? 0) / n });
  }
  return out;
}

export async function localRefills(poolId: string): Promise<RefillEntry[]> {
  const rows = await db().event.findMany({
    where: { action: 'pool.refill', targetId: poolId, result: 'ok', at: { gte: new Date(Date.now() - HOUR) } },
    select: { at: true, message: true, durationMs: true },
  });
  return refillEntries(rows);
}

/** spares per minute over the last 10 minutes, and the mean fork time per spare over the last hour */
export function refillRate(entries: RefillEntry[], now = Date.now()): { perMinute: number; meanMs: number | null; lastAt: string | null } {
  const hour = entries.filter((e) => e.at > now - HOUR);
  const recent = hour.filter((e) => e.at > now - 600_000);
  const meanMs = hour.length ? Math.round(hour.reduce((a, e) => a + e.ms, 0) / hour.length) : null;
  const last = hour.reduce((m, e) => Math.max(m, e.at), 0);
  return { perMinute: Math.round((recent.length / 10) * 10) / 10, meanMs, lastAt: last ? new Date(last).toISOString() : null };
}
