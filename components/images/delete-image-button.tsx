'use client';
// Delete one imported image, after a confirmation naming it. The engine refuses while a template uses
// it; its sentence is shown as it is.
import { useState } from 'react';
import { removeImageAction } from '@/app/actions/images';
import { useAction } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { ErrorNote } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';

export function DeleteImageButton({ name, usedBy }: { name: string; usedBy: string[] }) {
  const removeImage = useAction(removeImageAction, 'image');
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await removeImage.mutateAsync({ ref: name });
      setOpen(false);
      toast({ tone: 'ok', target: name, text: 'image deleted' });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <Button size="sm" variant="danger" busy={busy} aria-label={busy ? `Deleting ${name}…` : `Delete image ${name}`} title={usedBy.length ? `Used by ${usedBy.join(', ')}: the engine will refuse.` : undefined} onClick={() => setOpen(true)}>
        Delete
      </Button>
      <ConfirmDialog
        open={open}
        title={`Delete image ${name}?`}
        body={<p>Its qcow2 disk is removed from the console&apos;s host. This cannot be undone.</p>}
        confirmLabel={`Delete ${name}`}
        busy={busy}
        error={error ? <ErrorNote error={error} /> : undefined}
        onConfirm={remove}
        onClose={() => {
          setOpen(false);
          setError(null);
        }}
      />
    </>
  );
}
