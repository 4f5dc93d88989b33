// The action predicates are defined once (lib/engine/states.ts): the engine's guards throw their
// sentence and the console's buttons are enabled by them. Here: the table of what may be done.
import { describe, expect, it } from 'vitest';
import { canDo, vmActionBlocked, type VmAction } from '@/lib/engine/states';

const vm = (kind: string, state: string, persistent: boolean) => ({ name: 'v', kind, state, persistent });
const allowed = (v: ReturnType<typeof vm>, force = false) =>
  (['start', 'stop', 'reset', 'delete', 'exec', 'serial', 'fork'] as VmAction[]).filter((a) => vmActionBlocked(v, a, { force }) === null);

describe('action predicates', () => {
  it('says what may be done to each kind of VM in each state', () => {
    expect(allowed(vm('child', 'running', false))).toEqual(['stop', 'reset', 'delete', 'exec', 'serial', 'fork']);
    expect(allowed(vm('child', 'crashed', false))).toEqual(['stop', 'reset', 'delete']);
    // persistent children: never reset (their disk diverged), cold-booted when stopped
    expect(allowed(vm('child', 'running', true))).toEqual(['stop', 'exec', 'serial', 'fork']);
    expect(allowed(vm('child', 'running', true), true)).toEqual(['stop', 'delete', 'exec', 'serial', 'fork']);
    expect(allowed(vm('child', 'stopped', true))).toEqual(['start', 'delete']);
    expect(allowed(vm('parent', 'starting', false))).toEqual(['serial']);
  });

  it('refuses in one sentence that says what to do', () => {
    expect(vmActionBlocked(vm('child', 'running', true), 'reset')).toBe('VM "v" is persistent: its disk has diverged from the template, so it cannot be reset; stop and start it, or fork a new child.');
    expect(vmActionBlocked(vm('child', 'stopped', false), 'start')).toMatch(/non-persistent child: .*reset it or fork a new child instead\.$/);
    expect(vmActionBlocked(vm('child', 'stopped', true), 'exec')).toBe('VM "v" is stopped; start it before running commands in it.');
  });

  it('needs the operator role for every VM action', () => {
    const v = vm('child', 'running', false);
    expect(canDo(v, 'reset', 'viewer')).toBe(false);
    expect(canDo(v, 'reset', undefined)).toBe(false);
    expect(canDo(v, 'reset', 'operator')).toBe(true);
    expect(canDo(v, 'reset', 'admin')).toBe(true);
    expect(canDo(vm('child', 'running', true), 'reset', 'admin')).toBe(false);
  });
});
