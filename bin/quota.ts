// `instaclone quota ls` and `instaclone quota set NAME [--children N|none] [--memory MiB|none]` (admin).
import type { PoolCliDeps } from './pool';

export const QUOTA_USAGE = `  instaclone quota ls [--json] | quota set NAME|token:NAME|'*' [--children N|none] [--memory MiB|none] [--json]
    (a quota limits the children and the guest memory of running VMs of one user or token; both none removes it)`;

/** "none" → null (no limit); a number as a number; anything else as given, for the shared schema to explain. */
const limit = (v: string | undefined, d: PoolCliDeps) => (v === undefined ? null : v === 'none' ? null : d.num(v));

export async function quotaCommand(args: string[], o: { children?: string; memory?: string }, d: PoolCliDeps): Promise<number> {
  const [sub, name] = args;
  if (sub === 'ls') {
    const r = await d.api('GET', '/quotas');
    d.out(r, () => d.table(r.quotas.map((q: any) => ({ name: q.name, children: q.used ? `${q.used.children}/${q.maxChildren ?? '∞'}` : (q.maxChildren ?? '∞'), memory: q.used ? `${q.used.memoryMiB}/${q.maxMemoryMiB ?? '∞'} MiB` : `${q.maxMemoryMiB ?? '∞'} MiB` })), ['name', 'children', 'memory']));
    return 0;
  }
  if (sub === 'set') {
    if (!name) d.fail('quota set needs a NAME: a user name, token:NAME or * (see instaclone --help).');
    const r = await d.api('PUT', '/quotas', { name, maxChildren: limit(o.children, d), maxMemoryMiB: limit(o.memory, d) });
    d.out(r, () => (r.removed ? `quota of ${r.name} removed` : `quota of ${r.name}: ${r.maxChildren ?? 'any number of'} children, ${r.maxMemoryMiB === null ? 'any' : `${r.maxMemoryMiB} MiB of`} guest memory`));
    return 0;
  }
  return d.fail(`Unknown quota command "${sub ?? ''}": use quota ls or quota set NAME (see instaclone --help).`);
}
