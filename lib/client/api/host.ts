// Everything that is not a template, a VM or an image: lineage listing, health, who am I, stats, tasks, log.
import type { HostStats } from '@/lib/contract';
import type { Health, LogEvent, Ls, Me, Stats, Task, VmMemory } from '../types';
import { api, enc } from './http';

export const fetchLs = () => api<Ls>('GET', '/api/v1/ls');

/** /api/health answers 503 with the same report when something is wrong: both are data here. */
export async function fetchHealth(): Promise<Health> {
  const res = await fetch('/api/health', { credentials: 'same-origin' });
  return (await res.json()) as Health;
}

export const fetchMe = () => api<Me>('GET', '/api/v1/me');

/** The engine reports smaps_rollup figures in KiB per VM (and per prelaunched slot); the console shows bytes. */
export const fetchStats = async (): Promise<Stats> => {
  const r = await api<HostStats>('GET', '/api/v1/stats');
  const vms: VmMemory[] = r.vms.map((v) => ({
    id: v.id,
    name: v.name,
    sharedBytes: (v.memory?.sharedKiB ?? 0) * 1024,
    privateBytes: (v.memory?.privateKiB ?? 0) * 1024,
    pssBytes: v.memory ? v.memory.pssKiB * 1024 : undefined,
    rssBytes: v.memory ? v.memory.rssKiB * 1024 : undefined,
  }));
  const all = [...r.vms, ...r.slots].flatMap((x) => (x.memory ? [x.memory] : []));
  // Saved by sharing: what the VMs would hold if nothing were shared (RSS) minus their fair share (PSS).
  const saved = all.reduce((a, m) => a + Math.max(0, m.rssKiB - m.pssKiB) * 1024, 0);
  return {
    vms,
    totals: { sharedBytes: vms.reduce((a, v) => a + v.sharedBytes, 0), privateBytes: vms.reduce((a, v) => a + v.privateBytes, 0), savedBytes: saved },
    host: { totalBytes: r.host.totalKiB * 1024, availableBytes: r.host.availableKiB * 1024 },
  };
};

export const fetchTasks = async (target?: string) => (await api<{ tasks: Task[] }>('GET', `/api/v1/tasks${target ? `?target=${enc(target)}` : ''}`)).tasks;
export const fetchLog = async (target?: string) =>
  (await api<{ events: LogEvent[] }>('GET', `/api/v1/log${target ? `?target=${enc(target)}` : ''}`)).events;

export async function logout() {
  await api('POST', '/api/auth/logout');
}
