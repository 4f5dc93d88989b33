'use client';
// One useX hook per resource (lxd-ui src/context/useInstances.tsx). Live updates come from
// useEngineEvents (SSE) invalidating these keys; polling is only a slow safety net.
import { useQuery } from '@tanstack/react-query';
import { useSyncExternalStore } from 'react';
import { fetchHealth, fetchLog, fetchLs, fetchMe, fetchStats, fetchTasks } from './api/host';
import { fetchImages } from './api/images';
import { fetchTemplate } from './api/templates';
import { fetchVm } from './api/vms';
import { fetchPools } from './api/pools';
import { fetchHosts } from './api/hosts';
import { queryKeys } from './query-keys';
import type { Role } from './types';
import { allows } from './vm-state';

export const useLs = () => useQuery({ queryKey: queryKeys.ls, queryFn: fetchLs, refetchInterval: 30_000 });
export const useVm = (ref: string) => useQuery({ queryKey: queryKeys.vm(ref), queryFn: () => fetchVm(ref), retry: (n, e) => (e as { status?: number }).status !== 404 && n < 2 });
export const useTemplate = (ref: string) =>
  useQuery({ queryKey: queryKeys.template(ref), queryFn: () => fetchTemplate(ref), retry: (n, e) => (e as { status?: number }).status !== 404 && n < 2 });
export const useStats = () => useQuery({ queryKey: queryKeys.stats, queryFn: fetchStats, refetchInterval: 10_000, retry: 1 });
export const useHealth = () => useQuery({ queryKey: queryKeys.health, queryFn: fetchHealth, refetchInterval: 60_000 });
export const useMe = () => useQuery({ queryKey: queryKeys.me, queryFn: fetchMe, staleTime: 60_000 });
export const useImages = () => useQuery({ queryKey: queryKeys.images, queryFn: fetchImages });
export const useTasks = (target?: string) => useQuery({ queryKey: queryKeys.tasks(target), queryFn: () => fetchTasks(target), refetchInterval: 30_000 });
export const usePools = () => useQuery({ queryKey: queryKeys.pools, queryFn: fetchPools, refetchInterval: 15_000 });
export const useHosts = () => useQuery({ queryKey: queryKeys.hosts, queryFn: fetchHosts, refetchInterval: 5_000 });
export const useLog = (target?: string) => useQuery({ queryKey: queryKeys.log(target), queryFn: () => fetchLog(target) });

const noSubscribe = () => () => {};
/** False on the server and while hydrating, true after: markup that depends on fetched data waits for it. */
export function useHydrated(): boolean {
  return useSyncExternalStore(noSubscribe, () => true, () => false);
}

/**
 * Whether the logged-in user has at least this role (buttons are hidden or disabled otherwise).
 * False until hydrated: a page's Suspense boundary can hydrate after /api/v1/me has answered, and
 * role-dependent markup must then still match the server's (React #418 on /demo).
 */
export function useCan(needed: Role): boolean {
  const me = useMe();
  const hydrated = useHydrated();
  return hydrated && allows(me.data?.role, needed);
}
