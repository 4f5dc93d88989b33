'use client';
// "Fork this VM…": the template fork dialog in its live-fork form (a running child forked while it
// carries on as itself). Shown to operators; disabled with the reason when the VM cannot be forked.
import { useState } from 'react';
import { useCan } from '@/lib/client/hooks';
import { vmActionBlocked } from '@/lib/engine/states';
import type { Template, VmView as Vm } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ForkDialog } from '@/components/template/fork-dialog';

export function liveForkBlockedReason(vm: Vm, template: Template | undefined): string | null {
  const blocked = vmActionBlocked(vm, 'fork'); // the engine's own guard
  if (blocked) return blocked;
  if (!template) return `${vm.name}'s template is not loaded yet.`;
  return null;
}

export function ForkVmButton({ vm, template }: { vm: Vm; template: Template | undefined }) {
  const can = useCan('operator');
  const [open, setOpen] = useState(false);
  if (!can) return null;
  const reason = liveForkBlockedReason(vm, template);
  return (
    <>
      <Button size="sm" variant="primary" disabled={!!reason} title={reason ?? `Fork ${vm.name} while it keeps running`} onClick={() => setOpen(true)}>
        Fork this VM…
      </Button>
      {open && template && <ForkDialog template={template} source={vm} open onClose={() => setOpen(false)} />}
    </>
  );
}
