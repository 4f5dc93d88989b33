'use client';
// The wall's hosts: per host its name, state (colour AND word, so it reads without colour), VMs and
// memory in use of its total. The hosts query is invalidated by vm/template/pool events (query-keys.ts `touches`) and
// polled every 5 s, since a host going lost is noticed by a sweep, not by an engine event.
import { useHosts } from '@/lib/client/hooks';
import { usedOf } from '@/lib/client/format';

const TONE: Record<string, string> = { ready: 'text-emerald-400', draining: 'text-amber-300', lost: 'text-rose-400' };
const DOT: Record<string, string> = { ready: 'bg-emerald-500', draining: 'bg-amber-500', lost: 'bg-rose-500' };
const SHOW = 6; // the wall never grows: a few hosts, then a count

export function HostsPanel() {
  const hosts = useHosts();
  const all = hosts.data ?? [];
  if (all.length === 0) return null;
  const list = all.slice(0, SHOW);
  return (
    <section className="rounded-xl border border-slate-800 bg-slate-900/70 p-6" data-testid="wall-hosts">
      <h2 className="mb-4 text-xl uppercase tracking-widest text-slate-300">Hosts</h2>
      <ul className="space-y-2">
        {list.map((h) => (
          <li key={h.name} className="flex min-w-0 items-baseline gap-3 text-2xl" data-testid={`wall-host-${h.name}`}>
            <span className={`h-3 w-3 shrink-0 self-center rounded-full ${DOT[h.state] ?? 'bg-slate-500'}`} aria-hidden />
            <span className="min-w-0 flex-1 truncate font-mono" title={h.name}>
              {h.name}
            </span>
            <span className={TONE[h.state] ?? 'text-slate-300'} data-testid="wall-host-state">
              {h.state}
            </span>
            <span className="tabular-nums text-white" data-testid="wall-host-vms">
              {h.vms}
            </span>
            <span className="text-slate-300">{h.vms === 1 ? 'VM' : 'VMs'}</span>
            <span className="hidden whitespace-nowrap tabular-nums text-slate-300 sm:inline" data-testid="wall-host-memory">
              {usedOf(h.memoryUsedBytes, h.memoryBytes, true)} RAM
            </span>
          </li>
        ))}
      </ul>
      {all.length > SHOW && <p className="mt-2 text-xl text-slate-300">and {all.length - SHOW} more</p>}
    </section>
  );
}
