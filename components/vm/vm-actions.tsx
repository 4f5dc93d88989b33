'use client';
// One small component per action: disabled by state predicates and role, confirmation naming the VM.
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { deleteVm, vmAction, type VmAction } from '@/lib/client/api/vms';
import { errorText } from '@/lib/client/api/http';
import { useCan } from '@/lib/client/hooks';
import { canReset, canStop, startBlockedReason } from '@/lib/client/vm-state';
import type { Vm } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { ErrorNote } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';

const LABEL: Record<VmAction | 'delete', string> = { start: 'Start', stop: 'Stop', reset: 'Reset', delete: 'Delete' };
const PENDING: Record<VmAction | 'delete', string> = { start: 'Starting…', stop: 'Stopping…', reset: 'Resetting…', delete: 'Deleting…' };

export function VmActions({ vm }: { vm: Vm }) {
  const can = useCan('operator');
  const qc = useQueryClient();
  const toast = useToast();
  const router = useRouter();
  const [confirm, setConfirm] = useState<VmAction | 'delete' | null>(null);
  const [busy, setBusy] = useState<VmAction | 'delete' | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(a: VmAction | 'delete') {
    setBusy(a);
    setError(null);
    try {
      if (a === 'delete') await deleteVm(vm.id, true);
      else await vmAction(vm.id, a);
      setConfirm(null);
      toast({ tone: 'ok', target: vm.name, href: a === 'delete' ? undefined : `/vms/${vm.name}`, text: `${a} done` });
      if (a === 'delete') router.push(vm.templateId ? `/templates/${vm.templateId}` : '/');
    } catch (e) {
      setError(errorText(e));
      toast({ tone: 'error', target: vm.name, href: `/vms/${vm.name}`, text: `${a} failed: ${errorText(e)}` });
    } finally {
      setBusy(null);
      void qc.invalidateQueries({ queryKey: ['ls'] });
      void qc.invalidateQueries({ queryKey: ['vms'] });
    }
  }
  if (!can)
    return (
      <p className="text-xs text-slate-400" data-testid="vm-actions-reason">
        Read-only: stop, start, reset and delete need the operator role.
      </p>
    );
  const startReason = startBlockedReason(vm);
  const items: { a: VmAction | 'delete'; enabled: boolean; title?: string; variant?: 'danger' }[] = [
    { a: 'start', enabled: !startReason, title: startReason ?? undefined },
    { a: 'stop', enabled: canStop(vm.state), title: canStop(vm.state) ? undefined : `${vm.name} is ${vm.state}.` },
    { a: 'reset', enabled: canReset(vm.state), title: canReset(vm.state) ? (vm.persistent ? 'Reboot the guest.' : 'Back to the template state.') : `${vm.name} is ${vm.state}.` },
    { a: 'delete', enabled: true, variant: 'danger' },
  ];
  return (
    <div className="flex flex-wrap items-center gap-2">
      {items.map((it) => (
        <Button
          key={it.a}
          size="sm"
          variant={it.variant}
          disabled={!it.enabled || busy !== null}
          busy={busy === it.a}
          title={it.title}
          aria-label={busy === it.a ? PENDING[it.a] : `${LABEL[it.a]} ${vm.name}`}
          onClick={() => (it.a === 'start' ? run('start') : setConfirm(it.a))}
        >
          {busy === it.a ? PENDING[it.a] : LABEL[it.a]}
        </Button>
      ))}
      {error && !confirm && <ErrorNote error={error} className="w-full" />}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `${LABEL[confirm]} ${vm.name}?` : ''}
        body={
          confirm === 'delete' ? (
            <p>
              Delete <b>{vm.name}</b>? Its {vm.persistent ? 'delta disk' : 'overlay'} and state are removed; this cannot be undone.
            </p>
          ) : confirm === 'reset' ? (
            <p>
              Reset <b>{vm.name}</b>? {vm.persistent ? 'The guest reboots.' : 'It goes back to the template state; everything it did since the fork is lost.'}
            </p>
          ) : (
            <p>
              Stop <b>{vm.name}</b>? {vm.persistent ? 'It can be started again later.' : 'A non-persistent child loses all its state at power-off.'}
            </p>
          )
        }
        confirmLabel={confirm ? `${LABEL[confirm]} ${vm.name}` : ''}
        busy={busy !== null}
        error={error ? <ErrorNote error={error} /> : undefined}
        onConfirm={() => confirm && run(confirm)}
        onClose={() => {
          setConfirm(null);
          setError(null);
        }}
      />
    </div>
  );
}
