// Pools over REST. The shapes are the engine's own types (lib/engine/pools), imported as types only.
import type { ClaimResult, PoolView } from '@/lib/engine/pools';
import { api, enc } from './http';

export type { ClaimResult, PoolView };
export type PoolMembership = { pool: string; state: string; claimedBy: string | null; label: string | null };

export const fetchPools = async () => (await api<{ pools: PoolView[] }>('GET', '/api/v1/pools')).pools;
export const createPool = (body: { name: string; template: string; size: number; spares?: number; onRelease?: 'reset' | 'delete'; ttl?: string }) =>
  api<PoolView>('POST', '/api/v1/pools', body);
export const claimFromPool = (name: string, body: { label?: string; wait?: number } = {}) => api<ClaimResult>('POST', `/api/v1/pools/${enc(name)}/claim`, body);
export const releaseVm = (vm: string) => api<{ name: string; action: 'reset' | 'delete' }>('POST', `/api/v1/vms/${enc(vm)}/release`);
export const resizePool = (name: string, body: { size?: number; spares?: number }) => api<PoolView>('PATCH', `/api/v1/pools/${enc(name)}`, body);
export const pushPool = (name: string, template: string) => api<PoolView>('POST', `/api/v1/pools/${enc(name)}/push`, { template });
export const removePool = (name: string) => api<{ children: number }>('DELETE', `/api/v1/pools/${enc(name)}`);
