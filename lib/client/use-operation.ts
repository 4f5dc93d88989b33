'use client';
// Follow an operation by the id its server action answered (lib/api/action.ts runStart): the row is
// read through TanStack Query and every task event with that id (the one SSE channel,
// use-engine-events.ts) is written into the same cache entry, so a page shows the engine's own steps
// as they happen and ends with its result or error. No guessing by name or time.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { fetchOperationRow } from './api/operations';
import { applyEvent, ended, fromRow, type Followed } from './operation';
import { queryKeys } from './query-keys';
import { onEngineEvent } from './use-engine-events';

export type { Followed } from './operation';

/** The operation `id` (null: none started yet) as it goes: state, progress, step, message, result, error. */
export function useOperation<T>(id: string | null): Followed<T> | undefined {
  const qc = useQueryClient();
  const key = queryKeys.operation(id ?? '');
  // events first: one that arrives while the row is being read is not lost (fromRow keeps an end)
  useEffect(() => {
    if (!id) return;
    return onEngineEvent((ev) => {
      if (ev.type !== 'task' || ev.id !== id) return;
      qc.setQueryData<Followed<T>>(queryKeys.operation(id), (prev) => applyEvent(prev, ev, id));
      // the row has the full log once it ends
      if (ev.state === 'succeeded' || ev.state === 'failed') void qc.invalidateQueries({ queryKey: queryKeys.operation(id) });
    });
  }, [id, qc]);
  const q = useQuery({
    queryKey: key,
    enabled: !!id,
    queryFn: async () => fromRow<T>(qc.getQueryData<Followed<T>>(key), await fetchOperationRow(id!)),
    // a safety net only (the event stream is the live path): a missed event is caught within seconds
    refetchInterval: (query) => (ended(query.state.data) ? false : 5_000),
    staleTime: Infinity,
  });
  return id ? q.data : undefined;
}
