'use client';
// The Images page: every image (built in and imported) with its size, firmware, origin and the
// compatibility report of each template prepared from it; import by path or upload; delete.
import Link from 'next/link';
import { useCan, useImages } from '@/lib/client/hooks';
import { ago, bytes } from '@/lib/client/format';
import type { Image } from '@/lib/client/types';
import { ErrorNote, Panel, StateBadge } from '@/components/ui/misc';
import { ReadOnlyNote } from '@/components/auth/read-only-note';
import { CompatReport, NO_COMPAT } from '@/components/template/compat-report';
import { DeleteImageButton } from './delete-image-button';
import { firmwareLabel } from './image-fields';
import { ImportPathForm } from './import-path-form';
import { UploadImage } from './upload-image';

function origin(i: Image): string {
  if (i.source === 'builtin') return i.built ? `built in, from Debian packages${i.builtAt ? ` (${ago(i.builtAt)})` : ''}` : 'built in, not built yet (built on first use)';
  return `imported from ${'format' in i ? i.format : 'a disk'}${i.builtAt ? ` ${ago(i.builtAt)}` : ''}`;
}

function ImageRow({ image, canOperate }: { image: Image; canOperate: boolean }) {
  const virtual = 'virtualSizeBytes' in image ? image.virtualSizeBytes : null;
  return (
    <li className="rounded-md border border-slate-800 bg-slate-900/70" data-testid="image-row" data-name={image.name}>
      <div className="flex flex-wrap items-center gap-x-6 gap-y-1 px-3 py-2 text-sm">
        <span className="min-w-32 font-semibold text-white">{image.name}</span>
        <span className="text-slate-400" data-testid="image-origin">
          {origin(image)}
        </span>
        <span data-testid="image-firmware">{firmwareLabel(image.firmware)}</span>
        <span className="font-mono text-slate-200" data-testid="image-size" title="size on disk">
          {bytes(image.sizeBytes)}
          {virtual ? <span className="text-slate-400"> (disk {bytes(virtual)})</span> : null}
        </span>
        <span className="ml-auto">{image.source === 'imported' && canOperate && <DeleteImageButton name={image.name} usedBy={image.templates.map((t) => t.name)} />}</span>
      </div>
      {image.templates.length > 0 && (
        <details className="border-t border-slate-800 px-3 py-2" data-testid="image-templates">
          <summary className="cursor-pointer text-xs text-slate-400">
            {image.templates.length} template{image.templates.length > 1 ? 's' : ''} prepared from it: {image.templates.map((t) => t.name).join(', ')}
          </summary>
          <ul className="mt-2 space-y-3">
            {image.templates.map((t) => (
              <li key={t.id}>
                <div className="mb-1 flex items-center gap-2 text-sm">
                  <Link href={`/templates/${t.name}`} className="text-indigo-300 hover:underline">
                    ◆ {t.name}
                  </Link>
                  <StateBadge state={t.state} />
                </div>
                {t.compat ? <CompatReport report={t.compat} /> : <p className="text-xs text-slate-400">{NO_COMPAT}</p>}
              </li>
            ))}
          </ul>
        </details>
      )}
    </li>
  );
}

export function ImagesView() {
  const q = useImages();
  const canOperate = useCan('operator');
  const canAdmin = useCan('admin'); // a path on the console's host: admins only (lib/services/images.ts)
  return (
    <div className="space-y-4" data-testid="images-page">
      <h1 className="text-xl font-semibold text-white">Images</h1>
      <p className="max-w-3xl text-sm text-slate-400">
        A template is prepared from an image. Built-in images boot our own kernel directly; an imported image is your own bootable disk (qcow2, raw, vmdk, vdi, vhdx or vpc), converted to a clean
        qcow2 and booted through its firmware. It needs <code className="text-slate-300">qemu-guest-agent</code> inside; nothing is installed on it.
      </p>
      <ErrorNote error={q.error} />
      {q.isLoading && <p className="text-slate-400">Loading images…</p>}
      <ul className="space-y-2" aria-label="Images" data-testid="images-list">
        {(q.data ?? []).map((i) => (
          <ImageRow key={i.name} image={i} canOperate={canOperate} />
        ))}
      </ul>
      <ReadOnlyNote what="Importing and deleting images" />
      {canOperate && (
        <div className="grid gap-4 xl:grid-cols-2">
          <Panel title="Upload a disk image from this browser">
            <UploadImage />
          </Panel>
          {canAdmin && (
            <Panel title="Import a disk on the console's host">
              <ImportPathForm />
            </Panel>
          )}
        </div>
      )}
    </div>
  );
}
