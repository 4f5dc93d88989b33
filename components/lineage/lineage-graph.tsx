'use client';
// The lineage as a picture: templates and their children as nodes and edges (d3-hierarchy's tidy tree,
// laid out radially so hundreds of children fill a screen), coloured by state, a crashed child red.
// Pure SVG from React: layout is memoised on the tree, nodes glide to new places (CSS transition) as
// forks land. Used full-screen on /wall and as a panel in the console. A picture (role img, with a
// summary): navigation stays with the lineage list and the sidebar tree.
import { hierarchy, tree, type HierarchyPointNode } from 'd3-hierarchy';
import { useMemo } from 'react';
import type { LineageNode } from '@/lib/client/lineage';

/** Fill colours by state (readable on the dark theme; crashed/failed is the one red). */
export const STATE_FILL: Record<string, string> = {
  running: '#34d399',
  starting: '#38bdf8',
  stopped: '#94a3b8',
  crashed: '#f43f5e',
  failed: '#f43f5e',
  frozen: '#a5b4fc',
  preparing: '#fbbf24',
};
const fill = (state: string) => STATE_FILL[state] ?? '#cbd5e1';

interface Root {
  kind: 'root';
  id: string;
  name: string;
  state: string;
  children: LineageNode[];
}
type Datum = LineageNode | Root;

export interface GraphPoint {
  id: string;
  name: string;
  kind: 'template' | 'vm';
  state: string;
  x: number;
  y: number;
  depth: number;
}

/** Radial tidy-tree layout of the lineage in a unit square centred on 0,0 (radius 1). */
export function layoutLineage(roots: LineageNode[]): { nodes: GraphPoint[]; links: { from: GraphPoint; to: GraphPoint }[] } {
  if (roots.length === 0) return { nodes: [], links: [] };
  const h = hierarchy<Datum>({ kind: 'root', id: '__root', name: '', state: '', children: roots }, (d) => d.children);
  const depth = Math.max(1, h.height);
  const laid = tree<Datum>()
    .size([2 * Math.PI, 1])
    .separation((a, b) => (a.parent === b.parent ? 1 : 2) / Math.max(1, a.depth))(h);
  const point = (n: HierarchyPointNode<Datum>): GraphPoint => {
    // the invisible root sits in the middle; one template alone also takes the middle
    const r = roots.length === 1 ? (n.depth - 1) / Math.max(1, depth - 1) : n.depth / depth;
    const a = n.x - Math.PI / 2;
    return { id: n.data.id, name: n.data.name, kind: n.data.kind === 'template' ? 'template' : 'vm', state: n.data.state, x: r * Math.cos(a), y: r * Math.sin(a), depth: n.depth };
  };
  const byId = new Map<string, GraphPoint>();
  for (const n of laid.descendants()) if (n.depth > 0) byId.set(n.data.id, point(n));
  const links: { from: GraphPoint; to: GraphPoint }[] = [];
  for (const n of laid.descendants()) {
    if (n.depth < 1 || !n.parent || n.parent.depth < 1) continue;
    links.push({ from: byId.get(n.parent.data.id)!, to: byId.get(n.data.id)! });
  }
  return { nodes: [...byId.values()], links };
}

/**
 * `size` is the drawing's side in px (it scales with its box); `big` = wall typography.
 * Children get labels while there are few enough to read; beyond that each is a dot with a title.
 */
export function LineageGraph({ roots, big = false, label = 'Lineage graph' }: { roots: LineageNode[]; big?: boolean; label?: string }) {
  const { nodes, links } = useMemo(() => layoutLineage(roots), [roots]);
  const S = 1000; // viewBox side; the tree radius leaves room for labels
  const R = S * 0.36;
  const vms = nodes.filter((n) => n.kind === 'vm').length;
  // a wall is read from across a room: bigger type and dots there (the SVG scales with its box)
  const dot = (vms > 200 ? 5 : vms > 60 ? 8 : 12) * (big ? 1.4 : 1);
  const childLabels = vms <= (big ? 40 : 24);
  const fs = big ? 38 : 24;
  const at = (p: GraphPoint) => `translate(${S / 2 + p.x * R}px, ${S / 2 + p.y * R}px)`;
  if (nodes.length === 0) return <p className={big ? 'text-2xl text-slate-400' : 'text-sm text-slate-400'}>No templates yet.</p>;
  const counts = nodes.filter((n) => n.kind === 'vm').reduce<Record<string, number>>((a, n) => ((a[n.state] = (a[n.state] ?? 0) + 1), a), {});
  return (
    <figure className="flex h-full min-h-0 w-full flex-col" data-testid="lineage-graph" data-nodes={nodes.length}>
      <svg viewBox={`0 0 ${S} ${S}`} className="min-h-0 w-full flex-1 overflow-visible" role="img" aria-label={`${label}: ${nodes.length - vms} templates, ${vms} VMs`} preserveAspectRatio="xMidYMid meet">
        <g stroke="#475569" strokeWidth={big ? 2 : 1.5}>
          {links.map((l) => (
            <line key={`${l.from.id}-${l.to.id}`} x1={S / 2 + l.from.x * R} y1={S / 2 + l.from.y * R} x2={S / 2 + l.to.x * R} y2={S / 2 + l.to.y * R} style={{ transition: 'all 0.6s ease' }} />
          ))}
        </g>
        {nodes.map((n) => {
          const angle = Math.atan2(n.y, n.x);
          const right = Math.cos(angle) >= 0;
          const showLabel = n.kind === 'template' || childLabels;
          const body = (
            <>
              {n.kind === 'template' ? (
                <rect x={-16} y={-16} width={32} height={32} transform="rotate(45)" fill={fill(n.state)} stroke="#0f172a" strokeWidth={3} />
              ) : (
                <circle r={dot} fill={fill(n.state)} stroke="#0f172a" strokeWidth={2} />
              )}
              {showLabel && (
                <text
                  x={n.kind === 'template' ? 0 : right ? dot + 6 : -(dot + 6)}
                  y={n.kind === 'template' ? -28 : 0}
                  dy="0.35em"
                  textAnchor={n.kind === 'template' ? 'middle' : right ? 'start' : 'end'}
                  fontSize={n.kind === 'template' ? fs + 6 : fs - 4}
                  fontWeight={n.kind === 'template' ? 700 : 400}
                  fill="#f1f5f9"
                  stroke="#020617"
                  strokeWidth={4}
                  paintOrder="stroke"
                >
                  {n.name}
                </text>
              )}
              <title>{`${n.kind === 'template' ? 'template' : 'VM'} ${n.name}: ${n.state}`}</title>
            </>
          );
          return (
            <g key={n.id} style={{ transform: at(n), transition: 'transform 0.6s ease' }} data-node={n.name} data-state={n.state}>
              {body}
            </g>
          );
        })}
      </svg>
      <figcaption className={`flex flex-wrap justify-center gap-x-6 gap-y-1 ${big ? 'text-2xl' : 'text-sm'} text-slate-200`} data-testid="lineage-legend">
        {Object.entries(counts).map(([s, c]) => (
          <span key={s} className="inline-flex items-center gap-2">
            <span className="inline-block h-4 w-4 rounded-full" style={{ background: fill(s) }} aria-hidden />
            {c} {s}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
