'use client';
// The tab-wide watcher of the operations this tab started (fork, live fork, prepare, reset of many,
// pool push, image import): each is followed to its end here, not by the component that started it,
// so closing a dialog or leaving a page never loses the end. The provider (components/ui/
// operation-toasts.tsx) shows each end once as a toast. Only starts register: a reload or a page
// that re-opens an old operation by id toasts nothing.
import type { ActionResult, Started } from '@/lib/api/action';
import { unwrap } from './actions';
import { followOperation, followToEnd } from './follow';

/** How the starter phrases the end: what it concerns (a link) and, on success, what was made. */
export interface EndNote<T> {
  target?: string;
  href?: string;
  text: (result: T) => string;
}

export interface OperationEnd {
  id: string;
  tone: 'ok' | 'error';
  target?: string;
  href?: string;
  text: string;
}

type Listener = (end: OperationEnd) => void;
const listeners = new Set<Listener>();
const watched = new Set<string>();

/** Hears every watched operation's end (the toast provider); returns an unsubscribe function. */
export function onOperationEnd(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function announce(end: OperationEnd) {
  for (const l of listeners) l(end);
}

/** Follows `started` to its end, once per operation id however often it is passed; returns it. */
export function watchOperation<T>(started: Started<T>, note: EndNote<T>): Started<T> {
  const id = started.operationId;
  if (watched.has(id)) return started;
  watched.add(id);
  const base = { id, target: note.target, href: note.href };
  void followOperation<T>(id).then(
    (op) => {
      if (op.state === 'failed') return announce({ ...base, tone: 'error', text: op.error ?? 'The operation failed.' });
      let text: string;
      try {
        text = note.text(op.result as T);
      } catch {
        text = 'done'; // a result the phrase did not expect is still an end
      }
      announce({ ...base, tone: 'ok', text });
    },
    // the console stopped answering: say so rather than fall silent
    () => announce({ ...base, tone: 'error', text: `lost track of operation ${id} (the console does not answer); the task panel shows how it ended.` }),
  );
  return started;
}

/**
 * Starts a long action and waits for its result (pages that only need the outcome: the demo, the
 * pool card, a reset of many). A refusal of role or input is the action's own error, at once; a
 * failure of the work is the operation's error sentence, thrown here and toasted by the watcher.
 */
export async function untilDone<T>(started: Promise<ActionResult<Started<T>>>, note: EndNote<T>): Promise<T> {
  return followToEnd(watchOperation(await unwrap(started), note));
}
