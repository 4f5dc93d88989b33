'use client';
// The left resource tree (Proxmox / vSphere style): templates → children → derived templates, any depth.
// Large templates start collapsed so 500 children do not flood the sidebar.
// Keyboard: the whole tree is ONE tab stop (roving tabindex, as a tree widget): Up/Down move between
// items, Right/Left expand/collapse, Home/End jump; links do not prefetch (one request per VM otherwise).
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useMemo, useRef, useState } from 'react';
import { useLs } from '@/lib/client/hooks';
import { buildLineage, type LineageNode } from '@/lib/client/lineage';
import { StateDot } from '@/components/ui/misc';

const SHOW_MAX = 50;

function Node({ n, depth, open, toggle, path, current }: { n: LineageNode; depth: number; open: Set<string>; toggle: (id: string) => void; path: string; current: string | null }) {
  const href = n.kind === 'template' ? `/templates/${n.name}` : `/vms/${n.name}`;
  const expanded = open.has(n.id) !== n.children.length <= 20; // default: open unless large
  const active = path === href;
  const [more, setMore] = useState(false);
  const kids = more ? n.children : n.children.slice(0, SHOW_MAX);
  return (
    <li>
      <div className={`flex items-center gap-1 rounded pr-1 text-[13px] ${active ? 'bg-sky-900/50 text-white' : 'text-slate-300 hover:bg-slate-800'}`} style={{ paddingLeft: depth * 12 + 2 }}>
        {n.children.length > 0 ? (
          <button type="button" tabIndex={-1} aria-label={`${expanded ? 'Collapse' : 'Expand'} ${n.name}`} aria-expanded={expanded} onClick={() => toggle(n.id)} className="w-4 text-slate-400 hover:text-white">
            {expanded ? '▾' : '▸'}
          </button>
        ) : (
          <span className="w-4" />
        )}
        <StateDot state={n.state} />
        <Link
          href={href}
          prefetch={false}
          tabIndex={current === n.id ? 0 : -1}
          data-tree-item={n.id}
          data-expanded={n.children.length > 0 ? String(expanded) : undefined}
          className="min-w-0 flex-1 truncate py-0.5"
          title={`${n.kind === 'template' ? 'template' : n.vm.kind} ${n.name}: ${n.state}${n.kind === 'vm' && n.vm.host ? ` on ${n.vm.host}` : ''}`}>
          {n.kind === 'template' ? <span className="mr-1 text-indigo-300">◆</span> : null}
          {n.name}
        </Link>
        {n.kind === 'template' && n.vmCount > 0 && <span className="text-[11px] text-slate-400">{n.vmCount}</span>}
      </div>
      {expanded && n.children.length > 0 && (
        <ul>
          {kids.map((c) => (
            <Node key={c.id} n={c} depth={depth + 1} open={open} toggle={toggle} path={path} current={current} />
          ))}
          {n.children.length > SHOW_MAX && !more && (
            <li style={{ paddingLeft: (depth + 1) * 12 + 20 }}>
              <button type="button" tabIndex={-1} className="text-xs text-sky-400 hover:underline" onClick={() => setMore(true)}>
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
  // the one item that takes Tab: the last one focused, else the current page's, else the first
  const [focused, setFocused] = useState<string | null>(null);
  const ids = useMemo(() => {
    const out: { id: string; href: string }[] = [];
    const walk = (n: LineageNode) => {
      out.push({ id: n.id, href: n.kind === 'template' ? `/templates/${n.name}` : `/vms/${n.name}` });
      n.children.forEach(walk);
    };
    roots.forEach(walk);
    return out;
  }, [roots]);
  const current = ids.some((x) => x.id === focused) ? focused : (ids.find((x) => x.href === path)?.id ?? ids[0]?.id ?? null);
  const list = useRef<HTMLUListElement>(null);
  function onKeyDown(e: React.KeyboardEvent) {
    const items = Array.from(list.current?.querySelectorAll<HTMLElement>('[data-tree-item]') ?? []);
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (i < 0) return;
    const el = items[i];
    const id = el.dataset.treeItem!;
    let target: HTMLElement | undefined;
    if (e.key === 'ArrowDown') target = items[i + 1];
    else if (e.key === 'ArrowUp') target = items[i - 1];
    else if (e.key === 'Home') target = items[0];
    else if (e.key === 'End') target = items[items.length - 1];
    else if ((e.key === 'ArrowRight' && el.dataset.expanded === 'false') || (e.key === 'ArrowLeft' && el.dataset.expanded === 'true')) toggle(id);
    else if (e.key === 'ArrowRight' && el.dataset.expanded === 'true') target = items[i + 1];
    else return;
    e.preventDefault();
    if (target) {
      setFocused(target.dataset.treeItem!);
      target.focus();
    }
  }
  return (
    <nav aria-label="Resources" className="min-h-0 flex-1 overflow-y-auto px-2 pb-3" data-testid="resource-tree">
      <h2 className="px-1 pt-3 pb-1 text-[11px] font-semibold uppercase tracking-wider text-slate-400">Lineage</h2>
      {ls.isLoading && <p className="px-1 text-xs text-slate-400">Loading…</p>}
      {ls.data && roots.length === 0 && <p className="px-1 text-xs text-slate-400">No templates yet.</p>}
      <ul ref={list} onKeyDown={onKeyDown} onFocus={(e) => (e.target as HTMLElement).dataset.treeItem && setFocused((e.target as HTMLElement).dataset.treeItem!)}>
        {roots.map((n) => (
          <Node key={n.id} n={n} depth={0} open={open} toggle={toggle} path={path} current={current} />
        ))}
      </ul>
    </nav>
  );
}
