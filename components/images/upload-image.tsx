'use client';
// Upload a disk image from the browser: the server streams the body to a temp file and imports it.
// A progress bar while the bytes go out, then "converting" while qemu-img works; Cancel aborts the
// request, and the server removes its temp file (nothing is listed).
import { useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { importImageSchema, IMAGE_FORMATS, describeZodError } from '@/lib/validations';
import { uploadImage, type Upload } from '@/lib/client/api/images';
import { errorText } from '@/lib/client/api/http';
import { invalidate } from '@/lib/client/query-keys';
import { bytes } from '@/lib/client/format';
import { Button } from '@/components/ui/button';
import { ErrorNote, Progress } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';
import { FIELD } from './image-fields';
import { importNote } from '@/lib/client/end-notes';

export function UploadImage() {
  const qc = useQueryClient();
  const toast = useToast();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [format, setFormat] = useState('auto');
  const [firmware, setFirmware] = useState<'bios' | 'uefi'>('bios');
  const [sent, setSent] = useState<{ sent: number; total: number } | null>(null);
  const [phase, setPhase] = useState<'idle' | 'sending' | 'converting'>('idle');
  const [error, setError] = useState<string | null>(null);
  const upload = useRef<Upload | null>(null);
  const input = useRef<HTMLInputElement>(null);

  async function start(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    if (!file) return setError('Choose a disk image file to upload.');
    const parsed = importImageSchema.safeParse({ name, format, firmware });
    if (!parsed.success) return setError(describeZodError(parsed.error));
    setPhase('sending');
    setSent({ sent: 0, total: file.size });
    const u = uploadImage(file, parsed.data, (s, t) => setSent({ sent: s, total: t }), () => setPhase('converting'));
    upload.current = u;
    try {
      const img = await u.done;
      toast({ tone: 'ok', target: img.name, href: '/images', text: importNote(img.name).text(img) }); // an upload is its page's own request, not an operation the tab watches
      setFile(null);
      setName('');
      if (input.current) input.current.value = '';
    } catch (err) {
      setError((err as Error).name === 'AbortError' ? 'Upload cancelled; nothing was kept.' : errorText(err));
    } finally {
      upload.current = null;
      setPhase('idle');
      setSent(null);
      invalidate(qc, 'image');
    }
  }

  const busy = phase !== 'idle';
  return (
    <form onSubmit={start} noValidate className="space-y-3" data-testid="upload-image" aria-label="Upload a disk image">
      <div className="grid gap-3 md:grid-cols-2">
        <label className="block text-sm text-slate-300" htmlFor="upload-file">
          Disk image file
          <input
            id="upload-file"
            ref={input}
            type="file"
            disabled={busy}
            className={`${FIELD} file:mr-3 file:rounded file:border-0 file:bg-slate-700 file:px-2 file:py-0.5 file:text-slate-100`}
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null;
              setFile(f);
              // a name from the file's (a lower-case, dash-separated stem), editable
              if (f && !name) setName(f.name.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63));
            }}
          />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="upload-name">
          Image name
          <input id="upload-name" value={name} disabled={busy} onChange={(e) => setName(e.target.value)} className={FIELD} />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="upload-format">
          Format
          <select id="upload-format" value={format} disabled={busy} onChange={(e) => setFormat(e.target.value)} className={FIELD}>
            {['auto', ...IMAGE_FORMATS].map((f) => (
              <option key={f} value={f}>
                {f === 'auto' ? 'auto (detect)' : f}
              </option>
            ))}
          </select>
        </label>
        <label className="block text-sm text-slate-300" htmlFor="upload-firmware">
          Firmware
          <select id="upload-firmware" value={firmware} disabled={busy} onChange={(e) => setFirmware(e.target.value as 'bios' | 'uefi')} className={FIELD}>
            <option value="bios">BIOS (SeaBIOS; MBR boot loader)</option>
            <option value="uefi">UEFI (OVMF; EFI system partition)</option>
          </select>
        </label>
      </div>
      {sent && (
        <div className="space-y-1" data-testid="upload-progress" data-phase={phase}>
          <div className="flex justify-between text-xs text-slate-400">
            <span>{phase === 'converting' ? 'Uploaded; checking and converting to qcow2 on the server…' : `Uploading ${file?.name ?? ''}…`}</span>
            <span data-testid="upload-bytes">
              {bytes(sent.sent)} / {bytes(sent.total)}
            </span>
          </div>
          <Progress value={sent.total ? sent.sent / sent.total : 0} label="Upload progress" />
        </div>
      )}
      <ErrorNote error={error} />
      <div className="flex gap-2">
        <Button type="submit" variant="primary" disabled={busy} busy={busy} aria-label={busy ? 'Uploading…' : undefined}>
          {busy ? 'Uploading…' : 'Upload and import'}
        </Button>
        {busy && (
          <Button onClick={() => upload.current?.cancel()} aria-label="Cancel the upload">
            Cancel
          </Button>
        )}
      </div>
    </form>
  );
}
