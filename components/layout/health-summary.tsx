'use client';
// The first page's host facts: database, QEMU, KVM, images, KSM (issue 6: health on the first page).
import Link from 'next/link';
import { useHealth } from '@/lib/client/hooks';
import { bytes } from '@/lib/client/format';

export function HealthSummary() {
  const { data: h } = useHealth();
  if (!h) return null;
  const items = [
    { ok: h.database.ok, label: 'Database', text: h.database.ok ? `${h.database.kind} ok` : (h.database.error ?? 'down') },
    { ok: h.qemu.ok && !h.qemu.warning, label: 'QEMU', text: h.qemu.ok ? `${h.qemu.version}${h.qemu.warning ? ` — ${h.qemu.warning}` : ''}` : (h.qemu.error ?? 'missing') },
    { ok: h.kvm.available, label: 'Acceleration', text: `${h.kvm.available ? 'KVM' : 'TCG (software)'}: ${h.kvm.reason}` },
    {
      ok: h.images.length > 0,
      label: 'Images',
      text: h.images.length ? h.images.map((i) => `${i.name} (${bytes(i.sizeBytes)})`).join(', ') : 'none built yet: run npm run setup',
    },
    {
      // amber only when the operator asked for KSM and it is not (fully) merging
      ok: !(h.ksm?.mode === 'on' && h.ksm.reason),
      label: 'KSM',
      text: !h.ksm ? 'unknown' : `${h.ksm.mode}${h.ksm.running ? `, ksmd saves ${bytes(h.ksm.savedBytes)}` : ''}${h.ksm.reason ? `: ${h.ksm.reason}` : h.ksm.wholeProcess ? ' (whole QEMUs merged)' : ''}`,
    },
  ];
  return (
    <ul className="grid gap-2 text-xs md:grid-cols-4 xl:grid-cols-5" data-testid="health">
      {items.map((i) => (
        <li key={i.label} title={i.text} className={`truncate rounded border px-3 py-1.5 ${i.ok ? 'border-slate-800 bg-slate-900/60' : 'border-amber-800 bg-amber-950/40'}`}>
          <span className="font-semibold text-slate-300">{i.label}: </span>
          <span className={i.ok ? 'text-slate-400' : 'text-amber-200'}>{i.text}</span>
        </li>
      ))}
      {!h.ok && (
        <li className="md:col-span-4 xl:col-span-5 text-amber-300">
          The host is not ready: see above. <Link prefetch={false} href="/api/health" className="underline">raw health report</Link>
        </li>
      )}
    </ul>
  );
}
