// One map of query keys; every change invalidates its keys (lxd-ui src/util/queryKeys.tsx).
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
};
