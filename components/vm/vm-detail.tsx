'use client';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { useCan, useLs, useStats, useVm } from '@/lib/client/hooks';
import { bytes, ago } from '@/lib/client/format';
import { vmActionBlocked } from '@/lib/engine/states';
import type { Template } from '@/lib/client/types';
import { Badge, ErrorNote, KV, MemBar, Panel, StateBadge } from '@/components/ui/misc';
import { DetailMissing } from '@/components/ui/detail-missing';
import { PoolBadge } from '@/components/pools/pool-badge';
import { History } from '@/components/tasks/history';
import { ExecBox } from './exec-box';
import { ScreenPicture } from './screen-picture';
import { SerialConsole } from './serial-console';
import { VmActions } from './vm-actions';
import { ForkVmButton } from './fork-vm-button';

const PORT_NAMES: Record<string, string> = { '80': 'http', '22': 'ssh' };

export function VmDetail({ vmRef }: { vmRef: string }) {
  const q = useVm(vmRef);
  const ls = useLs();
  const stats = useStats();
  const canOperate = useCan('operator');
  const [host, setHost] = useState('localhost');
  useEffect(() => setHost(location.hostname), []);
  if (q.isLoading || q.error || !q.data) return <DetailMissing name={vmRef} loading={q.isLoading} error={q.error} />;
  const vm = q.data;
  const templates = new Map((ls.data?.templates ?? []).map((t) => [t.id, t]));
  const chain: Template[] = [];
  for (let t = vm.templateId ? templates.get(vm.templateId) : undefined; t && chain.length < 20; t = t.parentId ? templates.get(t.parentId) : undefined) chain.unshift(t);
  const mem = stats.data?.vms.find((m) => m.id === vm.id);
  const derived = (ls.data?.templates ?? []).filter((t) => t.sourceVmId === vm.id);
  return (
    <div className="space-y-4" data-testid="vm-detail" data-state={vm.state}>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold text-white">{vm.name}</h1>
        <StateBadge state={vm.state} />
        <Badge tone={vm.kind === 'child' ? 'slate' : 'sky'}>{vm.kind}</Badge>
        <Badge tone={vm.persistent ? 'amber' : 'slate'}>{vm.persistent ? 'persistent' : 'non-persistent'}</Badge>
        <PoolBadge pool={vm.pool} />
        <div className="ml-auto flex flex-wrap items-center gap-2">
          <ForkVmButton vm={vm} template={vm.templateId ? templates.get(vm.templateId) : undefined} />
          <VmActions vm={vm} />
        </div>
      </div>
      {vm.error && <ErrorNote error={vm.error} />}
      <nav aria-label="Lineage" className="flex flex-wrap items-center gap-1 text-sm text-slate-400" data-testid="vm-lineage">
        {chain.map((t) => (
          <span key={t.id} className="flex items-center gap-1">
            <Link prefetch={false} href={`/templates/${t.name}`} className="text-indigo-300 hover:underline">
              ◆ {t.name}
            </Link>
            <span>›</span>
          </span>
        ))}
        <span className="text-slate-200">{vm.name}</span>
        {derived.map((t) => (
          <span key={t.id}>
            {' '}
            → prepared into{' '}
            <Link prefetch={false} href={`/templates/${t.name}`} className="text-indigo-300 hover:underline">
              {t.name}
            </Link>
          </span>
        ))}
      </nav>
      <div className="grid gap-4 xl:grid-cols-3">
        <Panel title="Identity" className="xl:col-span-1">
          <div data-testid="vm-identity">
            <KV
              items={[
                ['hostname', vm.identity.hostname],
                ['MAC', vm.identity.mac],
                ['IP', vm.identity.ip],
                ['machine-id', vm.identity.machineId],
                ['vmgenid', vm.identity.vmgenid],
                ['verified', vm.verified ? 'read back from inside the guest' : vm.kind === 'child' ? 'not yet' : '–'],
                ...(vm.verified
                  ? ([
                      ['clock skew', typeof vm.verified.clockSkewMs === 'number' ? `${vm.verified.clockSkewMs} ms` : '–'],
                      ['CRNG reseeded', vm.verified.entropyReseeded || vm.verified.vmgenidReseedSeen ? `yes${vm.verified.vmgenidReseedSeen ? ' (vmgenid change seen)' : ''}${vm.verified.entropyReseeded ? ' (host entropy added)' : ''}` : 'no'],
                    ] as [string, string][])
                  : []),
              ]}
            />
          </div>
        </Panel>
        <Panel title="Machine">
          <KV
            items={[
              ['host', vm.host],
              ['image', vm.image],
              ['memory', vm.memoryMiB ? `${vm.memoryMiB} MiB` : undefined],
              ['vCPUs', vm.vcpus],
              ['pid', vm.pid],
              ['started', vm.startedAt ? ago(vm.startedAt) : undefined],
              ['created', vm.createdAt ? ago(vm.createdAt) : undefined],
            ]}
          />
        </Panel>
        <Panel title="Ports and memory">
          <div className="space-y-3 text-sm">
            <ul className="space-y-1" data-testid="vm-ports">
              {Object.entries(vm.ports).length === 0 && <li className="text-slate-400">No forwarded ports.</li>}
              {Object.entries(vm.ports).map(([guest, hostPort]) => (
                <li key={guest}>
                  guest {guest} ({PORT_NAMES[guest] ?? 'tcp'}) →{' '}
                  {guest !== '22' ? (
                    <a href={`http://${host}:${hostPort}/`} target="_blank" rel="noreferrer" className="font-mono text-sky-300 underline">
                      http://{host}:{hostPort}/
                    </a>
                  ) : guest === '22' ? (
                    <a href={`ssh://root@${host}:${hostPort}`} className="font-mono text-sky-300 underline">
                      ssh -p {hostPort} root@{host}
                    </a>
                  ) : (
                    <span className="font-mono">
                      {host}:{hostPort}
                    </span>
                  )}
                </li>
              ))}
            </ul>
            <div data-testid="vm-memory">
              {mem ? (
                <div className="flex items-center gap-2">
                  <MemBar shared={mem.sharedBytes} priv={mem.privateBytes} />
                  <span>
                    shared with template {bytes(mem.sharedBytes)} · private {bytes(mem.privateBytes)}
                  </span>
                </div>
              ) : (
                <span className="text-slate-400">No memory figures (not running).</span>
              )}
            </div>
          </div>
        </Panel>
      </div>
      <Panel title="Screen">
        {!vm.display ? (
          <p className="text-sm text-slate-400" data-testid="no-screen">
            {vm.name} has no display device: built-in images print only to the serial console below.
          </p>
        ) : !canOperate ? (
          <p className="text-sm text-slate-400" data-testid="screen-hidden">
            Hidden: the screen shows what the guest prints, which only operators and admins may see.
          </p>
        ) : vm.state === 'running' || vm.state === 'starting' ? (
          <ScreenPicture vmRef={vm.id} label={`The screen of ${vm.name}`} />
        ) : (
          <p className="text-sm text-slate-400">{vm.name} is {vm.state}: its screen can be seen only while it runs.</p>
        )}
      </Panel>
      <Panel title="Serial console">
        {canOperate ? (
          <SerialConsole vmRef={vm.id} canType={vm.state === 'running' || vm.state === 'starting'} readOnlyReason={`view only: ${vm.name} is ${vm.state}`} />
        ) : (
          <p className="text-sm text-slate-400" data-testid="serial-hidden">
            Hidden: the serial console can show passwords and secrets the guest prints, so it needs the operator role.
          </p>
        )}
      </Panel>
      <Panel title="Run a command (guest agent)">
        <ExecBox
          vmRef={vm.id}
          disabledReason={
            !canOperate ? 'Read-only: running commands in the guest needs the operator role.' : vmActionBlocked(vm, 'exec')
          }
        />
      </Panel>
      <Panel title="History">
        <History target={vm.id} />
      </Panel>
    </div>
  );
}
