// One map of query keys; every change invalidates its keys (lxd-ui src/util/queryKeys.tsx). What a
// change touches is said once, in `touches`: the event stream and the mutations both use it.
import type { QueryClient } from '@tanstack/react-query';
import type { EngineEvent, EngineEventKind } from '@/lib/engine/events';

export const queryKeys = {
  ls: ['ls'] as const,
  vm: (ref: string) => ['vms', ref] as const,
  vms: ['vms'] as const,
  template: (ref: string) => ['templates', ref] as const,
  templates: ['templates'] as const,
  stats: ['stats'] as const,
  health: ['health'] as const,
  me: ['me'] as const,
  images: ['images'] as const,
  pools: ['pools'] as const,
  hosts: ['hosts'] as const,
  tasks: (target?: string) => (target ? (['tasks', target] as const) : (['tasks'] as const)),
  log: (target?: string) => (target ? (['log', target] as const) : (['log'] as const)),
  /** one operation, kept up to date by its task events (use-operation.ts), not by invalidation */
  operation: (id: string) => ['operations', id] as const,
};

/** The root keys (each invalidates everything under it, e.g. ['vms'] covers ['vms', ref]). */
export type RootKey = 'ls' | 'vms' | 'templates' | 'stats' | 'images' | 'pools' | 'hosts' | 'tasks' | 'log';

/** What each kind of change touches: an engine event's type, or a console mutation's subject. */
export const touches = {
  /** hosts: a host's VM count and replicas change with its VMs and templates */
  vm: ['ls', 'vms', 'stats', 'log', 'pools', 'hosts', 'tasks'],
  template: ['ls', 'templates', 'log', 'images', 'hosts', 'tasks'],
  slot: ['ls', 'templates', 'log', 'images'],
  pool: ['pools', 'ls', 'vms', 'hosts', 'log'],
  image: ['images', 'log', 'tasks'],
  task: ['tasks', 'log'],
  /** a task that ended: what it made or removed shows everywhere */
  taskEnded: ['tasks', 'log', 'ls', 'vms', 'templates', 'stats', 'images', 'hosts'],
  admin: ['log'],
  all: ['ls', 'vms', 'templates', 'stats', 'images', 'pools', 'hosts', 'tasks', 'log'],
} as const satisfies Record<string, readonly RootKey[]>;
export type Subject = keyof typeof touches;

/**
 * What each kind of engine event touches: one entry per kind of the closed union (lib/engine/events.ts),
 * so a new kind without an entry here does not compile.
 */
export const eventTouches: { [K in EngineEventKind]: (ev: Extract<EngineEvent, { type: K }>) => Subject } = {
  vm: () => 'vm',
  template: () => 'template',
  slot: () => 'slot',
  pool: () => 'pool',
  task: (ev) => (ev.state === 'running' ? 'task' : 'taskEnded'),
};

/** The root keys an engine event makes stale. */
export function keysOfEvent<E extends EngineEvent>(ev: E): readonly RootKey[] {
  const of = eventTouches[ev.type] as (e: E) => Subject;
  return touches[of(ev)];
}

export function invalidate(qc: QueryClient, ...subjects: Subject[]): void {
  const keys = new Set(subjects.flatMap((s) => touches[s]));
  for (const k of keys) void qc.invalidateQueries({ queryKey: [k] });
}
