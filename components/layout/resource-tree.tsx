'use client';
// The left resource tree (Proxmox / vSphere style): templates → children → derived templates, any depth.
// Large templates start collapsed so 500 children do not flood the sidebar.
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useMemo, useState } from 'react';
import { useLs } from '@/lib/client/hooks';
import { buildLineage, type LineageNode } from '@/lib/client/lineage';
import { StateDot } from '@/components/ui/misc';

const SHOW_MAX = 50;

function Node({ n, depth, open, toggle, path }: { n: LineageNode; depth: number; open: Set<string>; toggle: (id: string) => void; path: string }) {
  const href = n.kind === 'template' ? `/templates/${n.name}` : `/vms/${n.name}`;
  const expanded = open.has(n.id) !== n.children.length <= 20; // default: open unless large
  const active = path === href;
  const [more, setMore] = useState(false);
  const kids = more ? n.children : n.children.slice(0, SHOW_MAX);
  return (
    <li>
      <div className={`flex items-center gap-1 rounded pr-1 text-[13px] ${active ? 'bg-sky-900/50 text-white' : 'text-slate-300 hover:bg-slate-800'}`} style={{ paddingLeft: depth * 12 + 2 }}>
        {n.children.length > 0 ? (
          <button type="button" aria-label={`${expanded ? 'Collapse' : 'Expand'} ${n.name}`} aria-expanded={expanded} onClick={() => toggle(n.id)} className="w-4 text-slate-500 hover:text-white">
            {expanded ? '▾' : '▸'}
          </button>
        ) : (
          <span className="w-4" />
        )}
        <StateDot state={n.state} />
        <Link href={href} className="min-w-0 flex-1 truncate py-0.5" title={`${n.kind === 'template' ? 'template' : n.vm.kind} ${n.name}: ${n.state}`}>
          {n.kind === 'template' ? <span className="mr-1 text-indigo-300">◆</span> : null}
          {n.name}
        </Link>
        {n.kind === 'template' && n.vmCount > 0 && <span className="text-[11px] text-slate-500">{n.vmCount}</span>}
      </div>
      {expanded && n.children.length > 0 && (
        <ul>
          {kids.map((c) => (
            <Node key={c.id} n={c} depth={depth + 1} open={open} toggle={toggle} path={path} />
          ))}
          {n.children.length > SHOW_MAX && !more && (
            <li style={{ paddingLeft: (depth + 1) * 12 + 20 }}>
              <button type="button" className="text-xs text-sky-400 hover:underline" onClick={() => setMore(true)}>
                show all {n.children.length}
              </button>
            </li>
          )}
        </ul>
      )}
    </li>
  );
}

export function ResourceTree() {
  const ls = useLs();
  const path = usePathname();
  const roots = useMemo(() => buildLineage(ls.data), [ls.data]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  return (
    <nav aria-label="Resources" className="min-h-0 flex-1 overflow-y-auto px-2 pb-3" data-testid="resource-tree">
      <h2 className="px-1 pt-3 pb-1 text-[11px] font-semibold uppercase tracking-wider text-slate-500">Lineage</h2>
      {ls.isLoading && <p className="px-1 text-xs text-slate-500">Loading…</p>}
      {ls.data && roots.length === 0 && <p className="px-1 text-xs text-slate-500">No templates yet.</p>}
      <ul>
        {roots.map((n) => (
          <Node key={n.id} n={n} depth={0} open={open} toggle={toggle} path={path} />
        ))}
      </ul>
    </nav>
  );
}
