'use client';
// Follow an operation by the id its server action answered (lib/api/action.ts runStart): the row is
// read through TanStack Query and every task event with that id (the one SSE channel,
// use-engine-events.ts) is written into the same cache entry, so a page shows the engine's own steps
// as they happen and ends with its result or error. No guessing by name or time.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import type { ActionResult, Started } from '@/lib/api/action';
import { fetchOperationRow } from './api/operations';
import { ActionError, unwrap } from './actions';
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

/**
 * Starts a long action and waits for its result (pages that only need the outcome: the demo, the
 * import form, the pool card). A refusal of role or input is the action's own error, at once; a
 * failure of the work is the operation's error sentence.
 */
export async function untilDone<T>(started: Promise<ActionResult<Started<T>>>): Promise<T> {
  return followToEnd(await unwrap(started));
}

/** The result of a started operation once it ends (its error sentence, thrown, when it fails). */
export async function followToEnd<T>({ operationId: id }: Started<T>): Promise<T> {
  let op: Followed<T> | undefined;
  let wake = () => {};
  const off = onEngineEvent((ev) => {
    op = applyEvent(op, ev, id);
    if (ended(op)) wake();
  });
  try {
    while (!ended(op)) {
      op = fromRow<T>(op, await fetchOperationRow(id));
      if (ended(op)) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 2_000);
      });
    }
  } finally {
    off();
  }
  if (op!.state === 'failed') throw new ActionError(op!.error ?? 'The operation failed.', 'failed');
  return op!.result as T;
}
