'use client';
// Console mutations: a server action (app/actions/*) wrapped in a TanStack Query mutation. The action
// returns {ok,data} or {ok:false,error,code}; a refusal becomes an ActionError with the server's sentence,
// and whatever the action touched is invalidated through the one map (query-keys.ts `touches`).
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ActionResult } from '@/lib/api/action';
import { invalidate, type Subject } from './query-keys';

export class ActionError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'ActionError';
    this.code = code;
  }
}

/** The action's data, or its refusal thrown as an ActionError (a lost session goes to the log-in page). */
export async function unwrap<T>(result: Promise<ActionResult<T>>): Promise<T> {
  let r: ActionResult<T>;
  try {
    r = await result;
  } catch {
    throw new ActionError('The console does not answer: is the server running?', 'unavailable');
  }
  if (r.ok) return r.data;
  if (r.code === 'unauthorized' && typeof window !== 'undefined' && !location.pathname.startsWith('/login')) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  throw new ActionError(r.error, r.code);
}

export function useAction<I, T>(action: (input: I) => Promise<ActionResult<T>>, ...subjects: Subject[]) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: I) => unwrap(action(input)),
    onSettled: () => invalidate(qc, ...subjects),
  });
}
