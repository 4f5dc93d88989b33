// VM state is a union; the actions offered come from predicates (cockpit-machines src/components/vm/vmActions.tsx).
// Those predicates live in the engine (lib/engine/states.ts, vmActionBlocked) so that the console offers
// exactly what the engine does; this file keeps what is only the console's: role checks and colours.
import { allows as roleAllows } from '@/lib/auth/roles';
import type { Role, Template } from './types';

export const allows = (role: Role | undefined, needed: Role) => !!role && roleAllows(role, needed);

export function persistenceBlockedReason(t: Template): string | null {
  if (t.state !== 'frozen') return `The template is ${t.state}.`;
  if (!t.quiesced) return 'Persistent children need a quiesced template (file systems frozen and flushed before the freeze). Prepare the template again with "quiesce" on.';
  return null;
}

export const STATE_COLOURS: Record<string, string> = {
  running: 'bg-emerald-500',
  starting: 'bg-sky-400 animate-pulse',
  stopped: 'bg-slate-500',
  crashed: 'bg-orange-500',
  failed: 'bg-rose-500',
  frozen: 'bg-indigo-400',
  preparing: 'bg-amber-400 animate-pulse',
  deleting: 'bg-rose-400 animate-pulse',
};
export const stateColour = (s: string) => STATE_COLOURS[s] ?? 'bg-slate-400';
