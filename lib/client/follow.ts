'use client';
// Following a started operation to its end outside React (the tab-wide watcher, pages that only
// need the outcome): woken by its end event on the one SSE channel, its row read back as a safety net.
import type { Started } from '@/lib/api/action';
import { fetchOperationRow } from './api/operations';
import { ActionError } from './actions';
import { applyEvent, ended, fromRow, type Followed } from './operation';
import { onEngineEvent } from './use-engine-events';

/** The result of a started operation once it ends (its error sentence, thrown, when it fails). */
export async function followToEnd<T>({ operationId: id }: Started<T>): Promise<T> {
  const op = await followOperation<T>(id);
  if (op.state === 'failed') throw new ActionError(op.error ?? 'The operation failed.', 'failed');
  return op.result as T;
}

/** The operation's work failed (the watcher's toast says so already): not a refusal of the action. */
export const isOperationFailure = (e: unknown) => e instanceof ActionError && e.code === 'failed';

/** Reads in a row that fail (a console restarting) before a follower gives up. */
const MAX_MISSES = 10;

/** Operation `id` once it has ended: woken by its end event, read back every 2 s as a safety net. */
export async function followOperation<T>(id: string): Promise<Followed<T>> {
  let op: Followed<T> | undefined;
  let wake = () => {};
  let misses = 0;
  const off = onEngineEvent((ev) => {
    op = applyEvent(op, ev, id);
    if (ended(op)) wake();
  });
  try {
    while (!ended(op)) {
      try {
        op = fromRow<T>(op, await fetchOperationRow(id));
        misses = 0;
      } catch (e) {
        if (++misses >= MAX_MISSES) throw e;
      }
      if (ended(op)) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 2_000);
      });
    }
  } finally {
    off();
  }
  return op!;
}
