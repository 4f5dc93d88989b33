// Everything that is not a template, a VM or an image: lineage listing, health, who am I, stats, tasks, log.
import type { Health, LogEvent, Ls, Me, Stats, Task, VmMemory } from '../types';
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

/** The engine reports smaps_rollup figures in KiB per VM (and per prelaunched slot); the app uses bytes. */
export const fetchStats = async (): Promise<Stats> => {
  const r = await api<Raw>('GET', '/api/v1/stats');
  const list = (Array.isArray(r.vms) ? r.vms : []) as Raw[];
  const kib = (m: Raw | undefined, k: string) => n(m?.[k]) * 1024;
  const vms: VmMemory[] = list.map((v) => {
    const m = (v.memory ?? undefined) as Raw | undefined;
    return {
      id: String(v.id),
      name: v.name as string | undefined,
      sharedBytes: v.sharedBytes !== undefined ? n(v.sharedBytes) : kib(m, 'sharedKiB'),
      privateBytes: v.privateBytes !== undefined ? n(v.privateBytes) : kib(m, 'privateKiB'),
      pssBytes: m ? kib(m, 'pssKiB') : undefined,
      rssBytes: m ? kib(m, 'rssKiB') : undefined,
    };
  });
  const slots = (Array.isArray(r.slots) ? r.slots : []) as Raw[];
  const all = [...list.map((v) => v.memory as Raw | undefined), ...slots.map((s) => s.memory as Raw | undefined)].filter((m): m is Raw => !!m);
  const shared = vms.reduce((a, v) => a + v.sharedBytes, 0);
  const priv = vms.reduce((a, v) => a + v.privateBytes, 0);
  // Saved by sharing: what the VMs would hold if nothing were shared (RSS) minus their fair share (PSS).
  const saved = all.reduce((a, m) => a + Math.max(0, kib(m, 'rssKiB') - kib(m, 'pssKiB')), 0);
  const host = (r.host ?? {}) as Raw;
  return {
    vms,
    totals: { sharedBytes: shared, privateBytes: priv, savedBytes: saved },
    host: { totalBytes: kib(host, 'totalKiB'), availableBytes: kib(host, 'availableKiB') },
  };
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
