'use client';
// One small component per action: disabled by state predicates and role, confirmation naming the VM.
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { removeVmAction, resetVmAction, startVmAction, stopVmAction } from '@/app/actions/vms';
import { errorText } from '@/lib/client/api/http';
import { useAction } from '@/lib/client/actions';
import { useCan } from '@/lib/client/hooks';
import { vmActionBlocked } from '@/lib/engine/states';
import type { VmView as Vm } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { ErrorNote } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';

type VmAction = 'start' | 'stop' | 'reset';
const ACTIONS = { start: startVmAction, stop: stopVmAction, reset: resetVmAction, delete: (i: { ref: string }) => removeVmAction({ ...i, force: true }) };

const LABEL: Record<VmAction | 'delete', string> = { start: 'Start', stop: 'Stop', reset: 'Reset', delete: 'Delete' };
const PENDING: Record<VmAction | 'delete', string> = { start: 'Starting…', stop: 'Stopping…', reset: 'Resetting…', delete: 'Deleting…' };

export function VmActions({ vm }: { vm: Vm }) {
  const can = useCan('operator');
  const mutation = useAction<VmAction | 'delete', unknown>((a) => ACTIONS[a]({ ref: vm.id }), 'vm');
  const toast = useToast();
  const router = useRouter();
  const [confirm, setConfirm] = useState<VmAction | 'delete' | null>(null);
  const [busy, setBusy] = useState<VmAction | 'delete' | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(a: VmAction | 'delete') {
    setBusy(a);
    setError(null);
    try {
      await mutation.mutateAsync(a);
      setConfirm(null);
      toast({ tone: 'ok', target: vm.name, href: a === 'delete' ? undefined : `/vms/${vm.name}`, text: `${a} done` });
      if (a === 'delete') router.push(vm.templateId ? `/templates/${vm.templateId}` : '/');
    } catch (e) {
      setError(errorText(e));
      toast({ tone: 'error', target: vm.name, href: `/vms/${vm.name}`, text: `${a} failed: ${errorText(e)}` });
    } finally {
      setBusy(null);
    }
  }
  if (!can)
    return (
      <p className="text-xs text-slate-400" data-testid="vm-actions-reason">
        Read-only: stop, start, reset and delete need the operator role.
      </p>
    );
  // the engine's own predicates (lib/engine/states.ts): a button is offered only when the engine would do it
  const item = (a: VmAction | 'delete', title?: string) => {
    const why = vmActionBlocked(vm, a, { force: true });
    return { a, enabled: !why, title: why ?? title, variant: a === 'delete' ? ('danger' as const) : undefined };
  };
  const items = [item('start'), item('stop'), item('reset', 'Back to the template state.'), item('delete')];
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
              Reset <b>{vm.name}</b>? It goes back to the template state; everything it did since the fork is lost.
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
