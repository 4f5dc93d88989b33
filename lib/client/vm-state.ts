// VM state is a union; the actions offered come from predicates (cockpit-machines src/components/vm/vmActions.tsx).
import type { Role, Template, Vm, VmState } from './types';

export const canStart = (s: VmState) => s === 'stopped' || s === 'crashed' || s === 'failed';
export const canStop = (s: VmState) => s === 'running' || s === 'starting';
export const canReset = (s: VmState) => s === 'running' || s === 'crashed';
export const canExec = (s: VmState) => s === 'running';
export const canDelete = (_s: VmState) => true;

/** Non-persistent children cannot be cold-booted: they lose all state at power-off. */
export function startBlockedReason(vm: Vm): string | null {
  if (!canStart(vm.state)) return `${vm.name} is ${vm.state}.`;
  if (vm.kind === 'child' && !vm.persistent) return 'A non-persistent child loses its state at power-off: use reset to bring it back to the template state.';
  return null;
}

export const ROLE_ORDER: Role[] = ['viewer', 'operator', 'admin'];
export const allows = (role: Role | undefined, needed: Role) => !!role && ROLE_ORDER.indexOf(role) >= ROLE_ORDER.indexOf(needed);

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
