'use client';
// Import a disk that is already on the console's host (a path there), e.g. one copied in with scp.
import { useState } from 'react';
import { describeZodError, IMAGE_FORMATS, importImageSchema } from '@/lib/validations';
import { importImageAction } from '@/app/actions/images';
import { useAction } from '@/lib/client/actions';
import { followToEnd } from '@/lib/client/follow';
import { watchOperation } from '@/lib/client/operation-watch';
import { importNote } from '@/lib/client/end-notes';
import { errorText } from '@/lib/client/api/http';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';
import { FIELD } from './image-fields';

export function ImportPathForm() {
  const importImage = useAction(importImageAction, 'image');
  const [form, setForm] = useState({ name: '', disk: '', format: 'auto', firmware: 'bios' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form, v: string) => setForm((f) => ({ ...f, [k]: v }));

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const parsed = importImageSchema.safeParse(form);
    if (!parsed.success) return setError(describeZodError(parsed.error));
    if (!parsed.data.disk) return setError('Give the path of the disk image on the console’s host.');
    setBusy(true);
    try {
      // the conversion runs as an operation; its end is toasted by the tab-wide watcher
      await followToEnd(watchOperation(await importImage.mutateAsync(parsed.data), importNote(parsed.data.name)));
      setForm({ name: '', disk: '', format: 'auto', firmware: 'bios' });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="space-y-3" data-testid="import-path" aria-label="Import from a path on the console's host">
      <div className="grid gap-3 md:grid-cols-2">
        <label className="block text-sm text-slate-300 md:col-span-2" htmlFor="import-disk">
          Path of the disk image on the console&apos;s host
          <input id="import-disk" value={form.disk} disabled={busy} onChange={(e) => set('disk', e.target.value)} placeholder="/srv/vms/web.qcow2" className={`${FIELD} font-mono`} />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="import-name">
          Image name
          <input id="import-name" value={form.name} disabled={busy} onChange={(e) => set('name', e.target.value)} className={FIELD} />
        </label>
        <div className="grid grid-cols-2 gap-3">
          <label className="block text-sm text-slate-300" htmlFor="import-format">
            Format
            <select id="import-format" value={form.format} disabled={busy} onChange={(e) => set('format', e.target.value)} className={FIELD}>
              {['auto', ...IMAGE_FORMATS].map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </label>
          <label className="block text-sm text-slate-300" htmlFor="import-firmware">
            Firmware
            <select id="import-firmware" value={form.firmware} disabled={busy} onChange={(e) => set('firmware', e.target.value)} className={FIELD}>
              <option value="bios">BIOS</option>
              <option value="uefi">UEFI</option>
            </select>
          </label>
        </div>
      </div>
      <ErrorNote error={error} />
      <Button type="submit" variant="primary" busy={busy} disabled={busy}>
        {busy ? 'Importing…' : 'Import'}
      </Button>
    </form>
  );
}
