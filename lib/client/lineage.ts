// The lineage tree: templates → their children → templates prepared from a child → … to any depth.
import type { Ls, Stats, Template, Vm, VmMemory } from './types';

export interface TemplateNode {
  kind: 'template';
  id: string;
  name: string;
  state: string;
  template: Template;
  children: LineageNode[];
  counts: Record<string, number>;
  vmCount: number;
  sharedBytes: number;
  privateBytes: number;
}
export interface VmNode {
  kind: 'vm';
  id: string;
  name: string;
  state: string;
  vm: Vm;
  mem?: VmMemory;
  children: LineageNode[];
}
export type LineageNode = TemplateNode | VmNode;

export function buildLineage(ls: Ls | undefined, stats?: Stats): LineageNode[] {
  if (!ls) return [];
  const mem = new Map((stats?.vms ?? []).map((m) => [m.id, m]));
  const vmNodes = new Map<string, VmNode>();
  for (const vm of ls.vms) vmNodes.set(vm.id, { kind: 'vm', id: vm.id, name: vm.name, state: vm.state, vm, mem: mem.get(vm.id), children: [] });
  const tNodes = new Map<string, TemplateNode>();
  for (const t of ls.templates)
    tNodes.set(t.id, { kind: 'template', id: t.id, name: t.name, state: t.state, template: t, children: [], counts: {}, vmCount: 0, sharedBytes: 0, privateBytes: 0 });

  const roots: LineageNode[] = [];
  for (const t of tNodes.values()) {
    const src = t.template.sourceVmId ? vmNodes.get(t.template.sourceVmId) : undefined;
    // A template frozen from a child hangs under that child; else under its parent template.
    if (src && src.vm.templateId) src.children.push(t);
    else if (t.template.parentId && tNodes.has(t.template.parentId)) tNodes.get(t.template.parentId)!.children.push(t);
    else roots.push(t);
  }
  for (const v of vmNodes.values()) {
    const parent = v.vm.templateId ? tNodes.get(v.vm.templateId) : undefined;
    if (parent) parent.children.push(v);
    else roots.push(v);
  }
  const order = (a: LineageNode, b: LineageNode) =>
    a.kind !== b.kind ? (a.kind === 'template' ? -1 : 1) : a.name.localeCompare(b.name, undefined, { numeric: true });
  const finish = (n: LineageNode) => {
    n.children.sort(order);
    n.children.forEach(finish);
    if (n.kind === 'template') {
      for (const c of n.children) {
        if (c.kind === 'vm') {
          n.counts[c.state] = (n.counts[c.state] ?? 0) + 1;
          n.vmCount++;
          n.sharedBytes += c.mem?.sharedBytes ?? 0;
          n.privateBytes += c.mem?.privateBytes ?? 0;
        }
      }
    }
  };
  roots.sort(order);
  roots.forEach(finish);
  return roots;
}

export interface FlatRow {
  node: LineageNode;
  depth: number;
  hasChildren: boolean;
  expanded: boolean;
}

/** Visible rows in order, honouring collapsed nodes and a filter (a match keeps its ancestors visible). */
export function flatten(
  roots: LineageNode[],
  isExpanded: (n: LineageNode) => boolean,
  matches?: (n: LineageNode) => boolean,
): FlatRow[] {
  const out: FlatRow[] = [];
  const keep = new Map<LineageNode, boolean>();
  const visit = (n: LineageNode): boolean => {
    let k = !matches || matches(n);
    for (const c of n.children) if (visit(c)) k = true;
    keep.set(n, k);
    return k;
  };
  if (matches) roots.forEach(visit);
  const walk = (n: LineageNode, depth: number) => {
    if (matches && !keep.get(n)) return;
    const kids = matches ? n.children.filter((c) => keep.get(c)) : n.children;
    const expanded = kids.length > 0 && (matches ? true : isExpanded(n));
    out.push({ node: n, depth, hasChildren: kids.length > 0, expanded });
    if (expanded) for (const c of kids) walk(c, depth + 1);
  };
  roots.forEach((r) => walk(r, 0));
  return out;
}
