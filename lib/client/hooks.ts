'use client';
// One useX hook per resource (lxd-ui src/context/useInstances.tsx). Live updates come from
// useEngineEvents (SSE) invalidating these keys; polling is only a slow safety net.
import { useQuery, type UseQueryResult } from '@tanstack/react-query';
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

export const useLs = () => hydrationSafe(useQuery({ queryKey: queryKeys.ls, queryFn: fetchLs, refetchInterval: 30_000 }));
export const useVm = (ref: string) =>
  hydrationSafe(useQuery({ queryKey: queryKeys.vm(ref), queryFn: () => fetchVm(ref), retry: (n, e) => (e as { status?: number }).status !== 404 && n < 2 }));
export const useTemplate = (ref: string) =>
  hydrationSafe(useQuery({ queryKey: queryKeys.template(ref), queryFn: () => fetchTemplate(ref), enabled: ref !== '', retry: (n, e) => (e as { status?: number }).status !== 404 && n < 2 }));
export const useStats = () => hydrationSafe(useQuery({ queryKey: queryKeys.stats, queryFn: fetchStats, refetchInterval: 10_000, retry: 1 }));
export const useHealth = () => hydrationSafe(useQuery({ queryKey: queryKeys.health, queryFn: fetchHealth, refetchInterval: 60_000 }));
export const useMe = () => hydrationSafe(useQuery({ queryKey: queryKeys.me, queryFn: fetchMe, staleTime: 60_000 }));
export const useImages = () => hydrationSafe(useQuery({ queryKey: queryKeys.images, queryFn: fetchImages }));
export const useTasks = (target?: string) => hydrationSafe(useQuery({ queryKey: queryKeys.tasks(target), queryFn: () => fetchTasks(target), refetchInterval: 30_000 }));
export const usePools = () => hydrationSafe(useQuery({ queryKey: queryKeys.pools, queryFn: fetchPools, refetchInterval: 15_000 }));
export const useHosts = () => hydrationSafe(useQuery({ queryKey: queryKeys.hosts, queryFn: fetchHosts, refetchInterval: 5_000 }));
export const useLog = (target?: string) => hydrationSafe(useQuery({ queryKey: queryKeys.log(target), queryFn: () => fetchLog(target) }));

// What the server renders for every query: nothing fetched yet, a fetch under way.
const AS_ON_SERVER = {
  data: { value: undefined },
  error: { value: null },
  status: { value: 'pending' },
  fetchStatus: { value: 'fetching' },
  isPending: { value: true },
  isLoading: { value: true },
  isFetching: { value: true },
  isSuccess: { value: false },
  isError: { value: false },
} satisfies PropertyDescriptorMap;

/**
 * While React hydrates, a query reads as it did on the server. The shell (top bar, sidebar) hydrates
 * first and fetches; a page's Suspense boundary hydrates only once its own chunk has loaded, and if
 * /api/v1/health or /ls answered before that, the page would render data the server's HTML lacks
 * (React #418 on /). The overrides shadow the result's getters instead of spreading it, so the
 * query still re-renders only on the fields a component reads.
 */
function hydrationSafe<T>(q: UseQueryResult<T>): UseQueryResult<T> {
  const hydrated = useHydrated();
  return hydrated ? q : (Object.create(q, AS_ON_SERVER) as UseQueryResult<T>);
}

const noSubscribe = () => () => {};
/** False on the server and while hydrating, true after: markup that depends on fetched data waits for it. */
export function useHydrated(): boolean {
  return useSyncExternalStore(noSubscribe, () => true, () => false);
}

/** Whether the logged-in user has at least this role (buttons are hidden or disabled otherwise). */
export function useCan(needed: Role): boolean {
  return allows(useMe().data?.role, needed);
}
