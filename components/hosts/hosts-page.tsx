'use client';
// The Hosts page: every agent (or this console's own host) with its state, size, replicas and VMs;
// admins drain a host (no new placements) or make it ready again.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { setHostState, type HostView } from '@/lib/client/api/hosts';
import { errorText } from '@/lib/client/api/http';
import { ago, bytes, usedOf } from '@/lib/client/format';
import { useCan, useHosts, useHydrated } from '@/lib/client/hooks';
import { queryKeys } from '@/lib/client/query-keys';
import { Button } from '@/components/ui/button';
import { Badge, ErrorNote, Panel } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';

const TONE: Record<string, 'emerald' | 'amber' | 'rose'> = { ready: 'emerald', draining: 'amber', lost: 'rose' };

export function HostsPage() {
  const hosts = useHosts();
  const hydrated = useHydrated();
  const single = hosts.data?.length === 1 && hosts.data[0].local;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold text-white">Hosts</h1>
      <p className="text-sm text-slate-400">
        {single
          ? 'This console runs every VM on its own host. Agents on a shared PostgreSQL add hosts (README “Many hosts”).'
          : 'Engine agents on the shared PostgreSQL: forks go to a ready host that holds the template; a host that stops sending heartbeats is marked lost.'}
      </p>
      {hosts.error && <ErrorNote error={hosts.error} />}
      <Panel title="Hosts">
        <table className="stack w-full text-left text-sm" data-testid="hosts">
          <thead className="text-xs text-slate-400">
            <tr>
              <th className="py-1 font-normal">host</th>
              <th className="font-normal">state</th>
              <th className="font-normal">size</th>
              <th className="font-normal">memory in use</th>
              <th className="font-normal">QEMU</th>
              <th className="font-normal">templates</th>
              <th className="font-normal">VMs</th>
              <th className="font-normal">last heartbeat</th>
              <th className="font-normal">
                <span className="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>{hosts.data?.map((h) => <HostRow key={h.name} host={h} hydrated={hydrated} />)}</tbody>
        </table>
      </Panel>
    </div>
  );
}

function HostRow({ host: h, hydrated }: { host: HostView; hydrated: boolean }) {
  const can = useCan('admin');
  const qc = useQueryClient();
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  async function act(action: 'drain' | 'ready') {
    setBusy(true);
    try {
      const r = await setHostState(h.name, action);
      toast({ tone: 'ok', target: h.name, text: `host ${r.name} is ${r.state}` });
    } catch (e) {
      toast({ tone: 'error', target: h.name, text: `${action} failed: ${errorText(e)}` });
    } finally {
      setBusy(false);
      void qc.invalidateQueries({ queryKey: queryKeys.hosts });
    }
  }
  return (
    <tr className="border-t border-slate-800/60 align-top" data-testid={`host-${h.name}`}>
      <td className="py-1 pr-3 font-mono text-slate-100" data-label="host">
        {h.name}
        {h.local && <span className="ml-2 text-[11px] text-slate-400">(this console)</span>}
      </td>
      <td className="pr-3" data-label="state">
        <Badge tone={TONE[h.state] ?? 'slate'}>{h.state}</Badge>
        {h.lostReason && <div className="text-[11px] text-rose-300">{h.lostReason}</div>}
      </td>
      <td className="whitespace-nowrap pr-3 text-slate-300" data-label="size">
        {h.cores} cores, {bytes(h.memoryBytes)} · {h.accel}
      </td>
      <td className="whitespace-nowrap pr-3 text-slate-300" data-label="memory in use">
        <span className="tabular-nums text-slate-100" data-testid="host-memory">{usedOf(h.memoryUsedBytes, h.memoryBytes)}</span>
        {h.qemuPssBytes !== null && (
          <div className="text-[11px] text-slate-400" data-testid="host-qemu-pss">
            QEMU {bytes(h.qemuPssBytes)} (PSS)
          </div>
        )}
      </td>
      <td className="pr-3 font-mono text-slate-300" data-label="QEMU">{h.qemuVersion}</td>
      <td className="pr-3 text-slate-300" data-label="templates">{h.templates.join(', ') || '–'}</td>
      <td className="pr-3 font-mono text-slate-100" data-label="VMs" data-testid="host-vms">{h.vms}</td>
      <td className="whitespace-nowrap pr-3 text-slate-400" data-label="last heartbeat">{hydrated ? ago(h.lastSeen) : ''}</td>
      <td data-label="actions">
        {can && !h.local && h.state !== 'lost' && (
          <Button size="sm" busy={busy} disabled={busy} onClick={() => act(h.state === 'draining' ? 'ready' : 'drain')} aria-label={`${h.state === 'draining' ? 'Make ready' : 'Drain'} host ${h.name}`}>
            {h.state === 'draining' ? 'Make ready' : 'Drain'}
          </Button>
        )}
      </td>
    </tr>
  );
}
