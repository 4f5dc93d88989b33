// Everything that is not a template or a VM: lineage listing, health, who am I, stats, tasks, log, images.
import type { Health, Image, LogEvent, Ls, Me, Stats, Task, VmMemory } from '../types';
import { api, enc, parseMaybe } from './http';
import { reshapeTemplate } from './templates';
import { reshapeVm } from './vms';

type Raw = Record<string, unknown>;
const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : Number(v) || 0);

export const fetchLs = async (): Promise<Ls> => {
  const r = await api<{ templates?: unknown[]; vms?: unknown[] }>('GET', '/api/v1/ls');
  return { templates: (r.templates ?? []).map(reshapeTemplate), vms: (r.vms ?? []).map(reshapeVm) };
};

/** /api/health answers 503 with the same report when something is wrong: both are data here. */
export async function fetchHealth(): Promise<Health> {
  const res = await fetch('/api/health', { credentials: 'same-origin' });
  return (await res.json()) as Health;
}

export const fetchMe = () => api<Me>('GET', '/api/v1/me');
export const fetchImages = async () => (await api<{ images: Image[] }>('GET', '/api/v1/images')).images;

export const fetchStats = async (): Promise<Stats> => {
  const r = await api<Raw>('GET', '/api/v1/stats');
  const list = (Array.isArray(r.vms) ? r.vms : Array.isArray(r.perVm) ? r.perVm : []) as Raw[];
  const vms: VmMemory[] = list.map((v) => ({
    id: String(v.id ?? v.vmId),
    name: v.name as string | undefined,
    sharedBytes: n(v.sharedBytes ?? v.shared ?? (v.memory as Raw)?.sharedBytes),
    privateBytes: n(v.privateBytes ?? v.private ?? (v.memory as Raw)?.privateBytes),
    pssBytes: v.pssBytes === undefined ? undefined : n(v.pssBytes),
    rssBytes: v.rssBytes === undefined ? undefined : n(v.rssBytes),
  }));
  const t = (r.totals ?? r.total ?? {}) as Raw;
  const shared = t.sharedBytes !== undefined ? n(t.sharedBytes) : vms.reduce((a, v) => a + v.sharedBytes, 0);
  const priv = t.privateBytes !== undefined ? n(t.privateBytes) : vms.reduce((a, v) => a + v.privateBytes, 0);
  // Sharing saves what every child would otherwise hold privately: all but one copy of the shared pages.
  const saved = t.savedBytes !== undefined ? n(t.savedBytes) : r.savedBytes !== undefined ? n(r.savedBytes) : Math.max(0, shared - (vms.length ? shared / vms.length : 0));
  return { vms, totals: { sharedBytes: shared, privateBytes: priv, savedBytes: saved }, host: r.host as Stats['host'] };
};

function reshapeTask(raw: Raw): Task {
  return {
    ...(raw as object),
    id: String(raw.id),
    kind: String(raw.kind ?? 'task'),
    state: String(raw.state ?? 'running'),
    progress: n(raw.progress),
    log: String(raw.log ?? ''),
    result: parseMaybe(raw.result, undefined),
    startedAt: String(raw.startedAt ?? new Date().toISOString()),
  } as Task;
}

export const fetchTasks = async (target?: string) =>
  (await api<{ tasks: Raw[] }>('GET', `/api/v1/tasks${target ? `?target=${enc(target)}` : ''}`)).tasks.map(reshapeTask);
export const fetchLog = async (target?: string) =>
  (await api<{ events: LogEvent[] }>('GET', `/api/v1/log${target ? `?target=${enc(target)}` : ''}`)).events;

export async function logout() {
  await api('POST', '/api/auth/logout');
}
