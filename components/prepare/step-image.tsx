// Step 1: the image, the template's name (checked against what exists as it is typed), memory, vCPUs,
// and for imported images the boot timeout.
import Link from 'next/link';
import { LIMITS } from '@/lib/validations';
import { bytes } from '@/lib/client/format';
import type { Image } from '@/lib/client/types';
import { firmwareLabel } from '@/components/images/image-fields';
import { DEFAULT_WARMUP, FIELD, type StepProps } from './form';
import { FieldError } from './field-error';

export function StepImage({ form, set, errors, images, nameTaken, hasDisplay }: StepProps & { images: Image[]; nameTaken: string | null; hasDisplay: boolean }) {
  const imageNames = Array.from(new Set(['tiny', 'debian', ...images.map((i) => i.name)]));
  return (
    <div className="grid gap-4 md:grid-cols-2">
      <label className="block text-sm text-slate-300" htmlFor="image">
        Image
        <select
          id="image"
          value={form.image}
          onChange={(e) => {
            const img = e.target.value;
            set('image', img);
            // the default warm-up starts the tiny image's web server; other guests have their own
            if (img !== 'tiny' && form.warmup.length === 1 && form.warmup[0] === DEFAULT_WARMUP) set('warmup', []);
          }}
          className={FIELD}
          aria-describedby="image-help"
        >
          {imageNames.map((n) => {
            const img = images.find((i) => i.name === n);
            return (
              <option key={n} value={n}>
                {n}
                {img ? ` — ${img.source === 'imported' ? 'imported' : 'built in'}, ${firmwareLabel(img.firmware)}${img.built ? `, ${bytes(img.sizeBytes)}` : ' (built on first use)'}` : ''}
              </option>
            );
          })}
        </select>
        <span id="image-help" className="mt-1 block text-xs text-slate-400">
          tiny: busybox guest with a web server, boots in seconds. debian: a full Debian root disk. Imported images boot from their own disk through BIOS or UEFI (minutes under TCG); add one on
          the{' '}
          <Link href="/images" className="text-sky-400 underline">
            Images
          </Link>{' '}
          page.
        </span>
      </label>
      <label className="block text-sm text-slate-300" htmlFor="name">
        Template name
        <input id="name" value={form.name} onChange={(e) => set('name', e.target.value)} className={FIELD} autoFocus aria-invalid={!!(errors.name || nameTaken)} aria-describedby="name-error" />
        {nameTaken && !errors.name ? (
          <p id="name-error" role="alert" className="mt-1 text-xs text-rose-300" data-testid="name-taken">
            {nameTaken}
          </p>
        ) : (
          <FieldError errors={errors} k="name" />
        )}
      </label>
      <label className="block text-sm text-slate-300" htmlFor="memory">
        Memory (MiB)
        <input id="memory" type="number" min={LIMITS.minMemoryMiB} max={LIMITS.maxMemoryMiB} step={64} value={form.memory} onChange={(e) => set('memory', e.target.value)} className={FIELD} aria-invalid={!!errors.memory} aria-describedby="memory-error" />
        <FieldError errors={errors} k="memory" />
      </label>
      <label className="block text-sm text-slate-300" htmlFor="vcpus">
        vCPUs
        <input id="vcpus" type="number" min={1} max={LIMITS.maxVcpus} value={form.vcpus} onChange={(e) => set('vcpus', e.target.value)} className={FIELD} aria-invalid={!!errors.vcpus} aria-describedby="vcpus-error" />
        <FieldError errors={errors} k="vcpus" />
      </label>
      {hasDisplay && (
        <label className="block text-sm text-slate-300" htmlFor="bootTimeout">
          Boot timeout (s)
          <input id="bootTimeout" type="number" min={5} max={3600} placeholder="300" value={form.bootTimeout} onChange={(e) => set('bootTimeout', e.target.value)} className={FIELD} aria-invalid={!!errors.bootTimeout} aria-describedby="bootTimeout-help bootTimeout-error" />
          <span id="bootTimeout-help" className="mt-1 block text-xs text-slate-400">
            How long to wait for the guest agent to answer after power-on; a disk that does not boot fails after this, with its last screen and serial lines.
          </span>
          <FieldError errors={errors} k="bootTimeout" />
        </label>
      )}
      <FieldError errors={errors} k="image" />
    </div>
  );
}
