// Prometheus text exposition: VM counts by state, memory shared vs private, host memory.
// Viewer role, like the rest of the read-only API (scrapers use a viewer token).
import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export const GET = route('viewer', async () => {
  const [list, stats] = await Promise.all([engine().list(), engine().stats()]);
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  const byState = new Map<string, number>();
  for (const v of list.vms) byState.set(`${v.kind}/${v.state}`, (byState.get(`${v.kind}/${v.state}`) ?? 0) + 1);
  metric('instaclone_vms', 'VMs by kind and state.', 'gauge',
    [...byState].map(([k, n]) => { const [kind, state] = k.split('/'); return [{ kind, state }, n]; }));
  metric('instaclone_templates', 'Templates.', 'gauge', [[{}, list.templates.length]]);
  metric('instaclone_slots_waiting', 'Prelaunched slots waiting for a fork.', 'gauge', [[{}, stats.totals.slots]]);
  const kib = (k: string) => stats.vms.filter((v) => v.memory).map((v) => [{ vm: v.name }, ((v.memory as unknown as Record<string, number>)[k] ?? 0) * 1024] as [Record<string, string>, number]);
  metric('instaclone_vm_pss_bytes', 'Proportional set size of each VM process.', 'gauge', kib('pssKiB'));
  metric('instaclone_vm_private_bytes', 'Memory private to each VM process.', 'gauge', kib('privateKiB'));
  metric('instaclone_vm_shared_bytes', 'Memory each VM process shares (template RAM, libraries).', 'gauge', kib('sharedKiB'));
  metric('instaclone_host_memory_available_bytes', 'MemAvailable of the host.', 'gauge', [[{}, stats.host.availableKiB * 1024]]);
  metric('instaclone_host_memory_total_bytes', 'MemTotal of the host.', 'gauge', [[{}, stats.host.totalKiB * 1024]]);
  return new Response(`${lines.join('\n')}\n`, { headers: { 'content-type': 'text/plain; version=0.0.4' } });
});
