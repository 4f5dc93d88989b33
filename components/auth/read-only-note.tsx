'use client';
// The visible reason a changing action is missing or disabled: shown only once the role is known and
// it is below what the actions need (viewer), so operators never see it flash.
import { useMe } from '@/lib/client/hooks';
import { allows } from '@/lib/client/vm-state';
import type { Role } from '@/lib/client/types';

/** `what`: the actions, as a plural subject ("Forking and deleting"). */
export function ReadOnlyNote({ what, needed = 'operator', className = '' }: { what: string; needed?: Role; className?: string }) {
  const me = useMe();
  if (!me.data || allows(me.data.role, needed)) return null;
  return (
    <p role="note" data-testid="readonly-reason" className={`rounded border border-slate-700 bg-slate-900 px-3 py-1.5 text-xs text-slate-300 ${className}`}>
      Read-only: you are {me.data.name} ({me.data.role}). {what} need the {needed} role.
    </p>
  );
}
