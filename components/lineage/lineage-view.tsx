'use client';
// Home: the live lineage tree. Virtualized rows (fixed height) so 500 children stay smooth; search,
// filter by state, collapse, multi-select children for bulk stop/reset/delete with per-item results.
import Link from 'next/link';
import { useMemo, useRef, useState, useCallback, useEffect } from 'react';
import { useCan, useLs, useStats } from '@/lib/client/hooks';
import { buildLineage, flatten, type LineageNode } from '@/lib/client/lineage';
import { bytes, plural } from '@/lib/client/format';
import { bulkVmAction, resetVmsAction } from '@/app/actions/vms';
import { untilDone } from '@/lib/client/operation-watch';
import { resetNote } from '@/lib/client/end-notes';
import { useAction } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { vmActionBlocked } from '@/lib/engine/states';
import type { Template, Vm } from '@/lib/client/types';
import { Badge, ErrorNote, MemBar, StateDot } from '@/components/ui/misc';
import { PoolBadge } from '@/components/pools/pool-badge';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { ForkDialog } from '@/components/template/fork-dialog';
import { ReadOnlyNote } from '@/components/auth/read-only-note';
import { LineageGraph } from './lineage-graph';

const ROW = 34;
const STATES = ['all', 'running', 'starting', 'stopped', 'crashed', 'failed', 'frozen', 'preparing'];

type VmAction = 'stop' | 'reset';
type BulkResult = { name: string; ok: boolean; message: string };

export function LineageView() {
  const ls = useLs();
  const stats = useStats();
  const bulkAction = useAction(bulkVmAction, 'vm');
  const canOperate = useCan('operator');
  const roots = useMemo(() => buildLineage(ls.data, stats.data), [ls.data, stats.data]);
  const [query, setQuery] = useState('');
  const [graph, setGraph] = useState(false); // the same graphical tree as the wall, above the list
  const [stateFilter, setStateFilter] = useState('all');
  const [toggled, setToggled] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<{ action: VmAction | 'delete'; running: boolean; results: BulkResult[] } | null>(null);
  const [confirm, setConfirm] = useState<VmAction | 'delete' | null>(null);
  const [forkFor, setForkFor] = useState<Template | null>(null);

  // Expanded by default unless large (over 100 children); a toggle flips the default.
  const isExpanded = useCallback((n: LineageNode) => toggled.has(n.id) !== n.children.length <= 100, [toggled]);
  const q = query.trim().toLowerCase();
  const matches = useMemo(() => {
    if (!q && stateFilter === 'all') return undefined;
    return (n: LineageNode) => {
      if (stateFilter !== 'all' && n.state !== stateFilter) return false;
      if (!q) return true;
      const vm = n.kind === 'vm' ? n.vm : undefined;
      return n.name.toLowerCase().includes(q) || !!vm?.ip?.includes(q) || !!vm?.hostname?.toLowerCase().includes(q);
    };
  }, [q, stateFilter]);
  const rows = useMemo(() => flatten(roots, isExpanded, matches), [roots, isExpanded, matches]);

  const vmsById = useMemo(() => new Map((ls.data?.vms ?? []).map((v) => [v.id, v])), [ls.data]);
  // Selection only keeps VMs that still exist.
  useEffect(() => {
    setSelected((s) => {
      const n = new Set([...s].filter((id) => vmsById.has(id)));
      return n.size === s.size ? s : n;
    });
  }, [vmsById]);

  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const v of ls.data?.vms ?? []) c[v.state] = (c[v.state] ?? 0) + 1;
    return c;
  }, [ls.data]);

  // Virtualization: render only the rows in view.
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scrollTop / ROW) - 10);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW) + 10);

  const toggle = (id: string) =>
    setToggled((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const select = (id: string, on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(id);
      else n.delete(id);
      return n;
    });
  const visibleVmIds = rows.filter((r) => r.node.kind === 'vm').map((r) => r.node.id);
  const allVisibleSelected = visibleVmIds.length > 0 && visibleVmIds.every((id) => selected.has(id));

  const selectedVms = [...selected].map((id) => vmsById.get(id)).filter((v): v is Vm => !!v);
  // the engine's own predicates: only VMs it would act on are counted and sent
  const eligible = (a: VmAction | 'delete') => selectedVms.filter((v) => !vmActionBlocked(v, a, { force: true }));

  async function runBulk(action: VmAction | 'delete') {
    setConfirm(null);
    const targets = eligible(action);
    setBulk({ action, running: true, results: [] });
    let results: BulkResult[];
    try {
      // one server action; the service runs each VM's action and reports each outcome (allSettled).
      // A reset of many is an operation: its action answers at once and its result comes when it ends.
      const refs = targets.map((v) => v.id);
      const r = action === 'reset' ? await untilDone(resetVmsAction({ refs }), resetNote()) : await bulkAction.mutateAsync({ action, refs });
      results = r.results.map((x, i) => ({ name: targets[i].name, ok: x.ok, message: x.ok ? 'done' : x.error }));
    } catch (e) {
      results = targets.map((v) => ({ name: v.name, ok: false, message: errorText(e) }));
    }
    setBulk({ action, running: false, results });
    if (action === 'delete') setSelected(new Set());
  }

  const stateLabel = (n: LineageNode) => (n.kind === 'vm' ? n.vm.kind : 'template');

  return (
    <div className="flex h-full min-h-0 flex-col gap-3">
      <div className="flex flex-wrap items-end gap-3">
        <div>
          <h1 className="text-xl font-semibold text-white">Lineage</h1>
          <p className="text-xs text-slate-400" data-testid="lineage-counts">
            {ls.data?.templates.length ?? 0} templates · {ls.data?.vms.length ?? 0} VMs ·{' '}
            {Object.entries(counts)
              .map(([s, n]) => `${n} ${s}`)
              .join(' · ') || 'none running'}
            {stats.data &&
              ` · children's memory: shared with templates ${bytes(stats.data.totals.sharedBytes)}, private ${bytes(stats.data.totals.privateBytes)} · saved by sharing (resident − proportional, slots included) ${bytes(stats.data.totals.savedBytes)}`}
          </p>
        </div>
        <div className="ml-auto flex flex-wrap items-end gap-2">
          <label className="text-xs text-slate-400">
            Search
            <input
              type="search"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              placeholder="name, hostname or IP"
              className="mt-0.5 block w-56 rounded border border-slate-700 bg-slate-900 px-2 py-1 text-sm text-slate-100"
            />
          </label>
          <label className="text-xs text-slate-400">
            State
            <select value={stateFilter} onChange={(e) => setStateFilter(e.target.value)} className="mt-0.5 block rounded border border-slate-700 bg-slate-900 px-2 py-1 text-sm text-slate-100">
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <Button size="sm" onClick={() => setToggled(new Set(roots.flatMap(function ids(n: LineageNode): string[] { return [...(n.children.length > 100 ? [n.id] : []), ...n.children.flatMap(ids)]; })))}>
            Expand all
          </Button>
          <Button size="sm" onClick={() => setToggled(new Set(roots.flatMap(function ids(n: LineageNode): string[] { return [...(n.children.length > 0 && n.children.length <= 100 ? [n.id] : []), ...n.children.flatMap(ids)]; })))}>
            Collapse all
          </Button>
          <Button size="sm" aria-pressed={graph} onClick={() => setGraph((g) => !g)} data-testid="graph-toggle">
            {graph ? 'Hide graph' : 'Show graph'}
          </Button>
          {canOperate && (
            <Link prefetch={false} href="/prepare" className="rounded border border-sky-500 bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-600">
              Prepare template
            </Link>
          )}
        </div>
      </div>

      <ReadOnlyNote what="Preparing templates, forking, and stopping, resetting or deleting children" />

      {graph && (
        <section aria-label="Lineage graph" className="h-[60vh] min-h-80 shrink-0 rounded border border-slate-800 bg-slate-950 p-2">
          <LineageGraph roots={roots} />
        </section>
      )}

      {selected.size > 0 && (
        <div className="flex flex-wrap items-center gap-2 rounded border border-sky-800 bg-sky-950/50 px-3 py-2 text-sm" data-testid="bulk-bar">
          <span className="font-medium text-sky-200">{selected.size} selected</span>
          {canOperate && (
            <>
              <Button size="sm" disabled={!eligible('stop').length} onClick={() => setConfirm('stop')}>
                Stop ({eligible('stop').length})
              </Button>
              <Button size="sm" disabled={!eligible('reset').length} onClick={() => setConfirm('reset')}>
                Reset ({eligible('reset').length})
              </Button>
              <Button size="sm" variant="danger" onClick={() => setConfirm('delete')}>
                Delete ({selected.size})
              </Button>
            </>
          )}
          {!canOperate && <span className="text-xs text-slate-400" data-testid="bulk-reason">Bulk stop, reset and delete need the operator role.</span>}
          <Button size="sm" variant="ghost" onClick={() => setSelected(new Set())}>
            Clear selection
          </Button>
        </div>
      )}
      {bulk && (
        <div className="rounded border border-slate-700 bg-slate-900 px-3 py-2 text-sm" data-testid="bulk-results" aria-live="polite">
          <div className="flex items-center gap-2">
            <b className="text-slate-200">Bulk {bulk.action}</b>
            {bulk.running ? (
              <span className="text-sky-300">working…</span>
            ) : (
              <span className="text-slate-400">
                {bulk.results.filter((r) => r.ok).length} succeeded, {bulk.results.filter((r) => !r.ok).length} failed
              </span>
            )}
            <button type="button" className="ml-auto text-xs text-slate-400 hover:text-white" onClick={() => setBulk(null)}>
              dismiss
            </button>
          </div>
          {!bulk.running && (
            <ul className="mt-1 max-h-32 overflow-y-auto text-xs">
              {bulk.results.map((r) => (
                <li key={r.name} className={r.ok ? 'text-emerald-300' : 'text-rose-300'}>
                  {r.ok ? '✓' : '✗'} {r.name}: {r.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      <ErrorNote error={ls.error} />

      <div className="flex min-h-0 flex-1 flex-col rounded-md border border-slate-800 bg-slate-900/60">
        <div className="grid grid-cols-[2rem_minmax(0,1fr)_5rem] sm:grid-cols-[2rem_minmax(14rem,1fr)_6rem_7rem_10rem_15rem_5rem] items-center gap-2 border-b border-slate-800 px-2 py-1.5 text-[11px] font-semibold uppercase tracking-wide text-slate-400">
          <input
            type="checkbox"
            aria-label="Select all visible children"
            checked={allVisibleSelected}
            onChange={(e) => setSelected(e.target.checked ? new Set([...selected, ...visibleVmIds]) : new Set([...selected].filter((id) => !visibleVmIds.includes(id))))}
          />
          <span>Name</span>
          <span>State</span>
          {/* below 640 px: name and state only (the VM page has the rest) */}
          <span className="hidden sm:block">Address</span>
          <span className="hidden sm:block">Children / slots</span>
          <span className="hidden sm:block">Memory shared / private</span>
          <span className="hidden sm:block" />
        </div>
        <div
          ref={scroller}
          className="min-h-0 flex-1 overflow-y-auto"
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
          role="tree"
          aria-label="Lineage tree"
          data-testid="lineage-tree"
        >
          {ls.data && rows.length === 0 && (
            <p className="p-6 text-center text-sm text-slate-400">
              {matches ? 'Nothing matches the search or filter.' : 'No templates yet: prepare one to start forking.'}
            </p>
          )}
          <div style={{ height: rows.length * ROW, position: 'relative' }}>
            {rows.slice(first, last).map((r, i) => {
              const n = r.node;
              const top = (first + i) * ROW;
              const href = n.kind === 'template' ? `/templates/${n.name}` : `/vms/${n.name}`;
              return (
                <div
                  key={n.id}
                  role="treeitem"
                  aria-level={r.depth + 1}
                  aria-expanded={r.hasChildren ? r.expanded : undefined}
                  aria-selected={n.kind === 'vm' ? selected.has(n.id) : undefined}
                  data-testid={`node-${n.name}`}
                  data-kind={n.kind}
                  data-state={n.state}
                  className="absolute inset-x-0 grid grid-cols-[2rem_minmax(0,1fr)_5rem] sm:grid-cols-[2rem_minmax(14rem,1fr)_6rem_7rem_10rem_15rem_5rem] items-center gap-2 border-b border-slate-800/60 px-2 text-sm hover:bg-slate-800/50"
                  style={{ top, height: ROW }}
                >
                  <span>
                    {n.kind === 'vm' && (
                      <input type="checkbox" aria-label={`Select ${n.name}`} checked={selected.has(n.id)} onChange={(e) => select(n.id, e.target.checked)} />
                    )}
                  </span>
                  <span className="flex min-w-0 items-center gap-1.5" style={{ paddingLeft: r.depth * 18 }}>
                    {r.hasChildren ? (
                      <button type="button" className="w-4 text-slate-400 hover:text-white" aria-label={`${r.expanded ? 'Collapse' : 'Expand'} ${n.name}`} onClick={() => toggle(n.id)}>
                        {r.expanded ? '▾' : '▸'}
                      </button>
                    ) : (
                      <span className="w-4" />
                    )}
                    <StateDot state={n.state} />
                    <Link prefetch={false} href={href} className={`min-w-16 truncate hover:underline ${n.kind === 'template' ? 'font-semibold text-indigo-200' : 'text-slate-100'}`}>
                      {n.name}
                    </Link>
                    <Badge tone={n.kind === 'template' ? 'indigo' : 'slate'}>{stateLabel(n)}</Badge>
                    {n.kind === 'template' && n.template.quiesced && <Badge tone="emerald">quiesced</Badge>}
                    {n.kind === 'vm' && n.vm.persistent && <Badge tone="amber">persistent</Badge>}
                    {n.kind === 'vm' && <PoolBadge pool={n.vm.pool} />}
                    {/* the VM's host: shrinks and truncates first, so the row keeps its height; below 640 px the
                        row is name and state only (the VM page names the host) */}
                    {n.kind === 'vm' && n.vm.host && (
                      <span className="hidden min-w-0 shrink truncate font-mono text-[11px] text-slate-400 sm:block" title={`host ${n.vm.host}`} data-testid="node-host">
                        {n.vm.host}
                      </span>
                    )}
                  </span>
                  <span className="text-xs text-slate-300">{n.state}</span>
                  <span className="hidden truncate font-mono text-xs text-slate-400 sm:block">{n.kind === 'vm' ? (n.vm.ip ?? '') : ''}</span>
                  <span className="hidden text-xs text-slate-400 sm:block">
                    {n.kind === 'template' ? (
                      <>
                        {plural(n.vmCount, 'child', 'children')}
                        {n.counts.running ? <span className="text-emerald-400"> · {n.counts.running} up</span> : null}
                      </>
                    ) : null}
                  </span>
                  <span className="hidden items-center gap-2 whitespace-nowrap text-[11px] text-slate-400 sm:flex">
                    {n.kind === 'vm' && n.mem ? (
                      <>
                        <MemBar shared={n.mem.sharedBytes} priv={n.mem.privateBytes} />
                        {bytes(n.mem.sharedBytes)} / {bytes(n.mem.privateBytes)}
                      </>
                    ) : n.kind === 'template' && n.sharedBytes + n.privateBytes > 0 ? (
                      <>
                        <MemBar shared={n.sharedBytes} priv={n.privateBytes} />
                        {bytes(n.sharedBytes)} / {bytes(n.privateBytes)}
                      </>
                    ) : null}
                  </span>
                  <span className="hidden text-right sm:block">
                    {n.kind === 'template' && canOperate && n.state === 'frozen' && (
                      <Button size="sm" variant="primary" onClick={() => setForkFor(n.template)} aria-label={`Fork ${n.name}`}>
                        Fork…
                      </Button>
                    )}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
        <div className="flex items-center gap-4 border-t border-slate-800 px-3 py-1 text-[11px] text-slate-400">
          <span>{rows.length} rows</span>
          <span className="flex items-center gap-1">
            <span className="inline-block h-2 w-3 rounded-sm bg-indigo-500" /> shared with template
          </span>
          <span className="flex items-center gap-1">
            <span className="inline-block h-2 w-3 rounded-sm bg-amber-500" /> private
          </span>
        </div>
      </div>

      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `${confirm[0].toUpperCase()}${confirm.slice(1)} ${confirm ? eligible(confirm).length : 0} VMs?` : ''}
        body={
          confirm && (
            <>
              <p>
                This will {confirm} {eligible(confirm).map((v) => v.name).slice(0, 12).join(', ')}
                {eligible(confirm).length > 12 ? ` and ${eligible(confirm).length - 12} more` : ''}.
              </p>
              {confirm === 'delete' && <p className="mt-2 text-rose-300">Deleted children are gone: their overlays and state are removed.</p>}
              {confirm === 'reset' && <p className="mt-2">Non-persistent children go back to the template&apos;s state.</p>}
            </>
          )
        }
        confirmLabel={confirm ? `${confirm[0].toUpperCase()}${confirm.slice(1)} ${confirm ? eligible(confirm).length : 0}` : ''}
        onConfirm={() => confirm && runBulk(confirm)}
        onClose={() => setConfirm(null)}
      />
      {forkFor && <ForkDialog template={forkFor} open onClose={() => setForkFor(null)} />}
    </div>
  );
}
