// The closed unions of VM and template states, and the action predicates: what may be done to a VM in
// its state, and by which role. Defined once: the engine's guards refuse with these reasons and the
// console offers (or disables, with the same reason) the same actions. No React, no database.
import { allows, type Role } from '../auth/roles';

export const VM_STATES = ['starting', 'running', 'stopped', 'crashed', 'failed'] as const;
export type VmState = (typeof VM_STATES)[number];
export const TEMPLATE_STATES = ['preparing', 'frozen', 'failed', 'deleting'] as const;
export type TemplateState = (typeof TEMPLATE_STATES)[number];
export type VmKind = 'parent' | 'child';

/** The fields of a VM that decide what may be done to it (a list row, a database row). */
export interface VmFacts {
  name: string;
  kind: string;
  state: string;
  persistent: boolean;
}

export type VmAction = 'start' | 'stop' | 'reset' | 'delete' | 'exec' | 'serial' | 'fork';

/** The least role each action needs (viewers read only). */
export const ACTION_ROLE: Record<VmAction, Role> = {
  start: 'operator',
  stop: 'operator',
  reset: 'operator',
  delete: 'operator',
  exec: 'operator',
  serial: 'operator',
  fork: 'operator',
};

const live = (s: string) => s === 'running' || s === 'starting';

/**
 * Why the engine refuses `action` on this VM (one sentence saying what to do), or null when it may be
 * done. `force` is delete's --force (a parent being prepared, a running persistent child).
 */
export function vmActionBlocked(vm: VmFacts, action: VmAction, opts: { force?: boolean } = {}): string | null {
  switch (action) {
    case 'start':
      if (live(vm.state)) return `VM "${vm.name}" is already ${vm.state}.`;
      if (!vm.persistent) return `VM "${vm.name}" is a non-persistent child: it lost its state at power-off; reset it or fork a new child instead.`;
      return null;
    case 'stop':
      if (vm.kind === 'parent') return `VM "${vm.name}" is a parent being prepared; it stops when the prepare finishes.`;
      if (vm.persistent && vm.state === 'stopped') return `VM "${vm.name}" is already stopped.`;
      return null;
    case 'reset':
      if (vm.kind !== 'child') return `VM "${vm.name}" is not a child; only children can be reset.`;
      if (vm.persistent) return `VM "${vm.name}" is persistent: its disk has diverged from the template, so it cannot be reset; stop and start it, or fork a new child.`;
      return null;
    case 'delete':
      if (opts.force) return null;
      if (vm.kind === 'parent') return `VM "${vm.name}" is a parent being prepared; wait for the prepare or remove with --force.`;
      if (vm.persistent && vm.state === 'running') return `VM "${vm.name}" is a running persistent child; stop it first or remove with --force (its disk is deleted).`;
      return null;
    case 'exec':
    case 'serial':
      if (action === 'exec' && vm.state !== 'running') return `VM "${vm.name}" is ${vm.state}; start it before running commands in it.`;
      if (action === 'serial' && !live(vm.state)) return `${vm.name} is ${vm.state}: start it to use its serial console.`;
      return null;
    case 'fork':
      if (vm.state !== 'running') return `VM "${vm.name}" is ${vm.state}; only a running VM can be live-forked (start it first).`;
      return null;
  }
}

/** Whether this role may do `action` to this VM now (the console's buttons). */
export function canDo(vm: VmFacts, action: VmAction, role: Role | undefined, opts: { force?: boolean } = {}): boolean {
  return !!role && allows(role, ACTION_ROLE[action]) && vmActionBlocked(vm, action, opts) === null;
}
