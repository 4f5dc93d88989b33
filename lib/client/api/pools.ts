// Pool reads over REST, and the claim the demo's burst measures as an API client sees it (pool
// mutations from the console are server actions: app/actions/pools.ts). The shapes are the engine's own types (lib/engine/pools), imported as types only.
import type { ClaimResult, PoolView } from '@/lib/engine/pools';
import { api, enc } from './http';

export type { ClaimResult, PoolView };
export type PoolMembership = { pool: string; state: string; claimedBy: string | null; label: string | null };

export const fetchPools = async () => (await api<{ pools: PoolView[] }>('GET', '/api/v1/pools')).pools;
export const claimFromPool = (name: string, body: { label?: string; wait?: number } = {}) => api<ClaimResult>('POST', `/api/v1/pools/${enc(name)}/claim`, body);
