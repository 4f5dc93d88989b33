'use client';
import Link from 'next/link';
import { useState } from 'react';
import { logout } from '@/lib/client/api/host';
import { useHealth, useMe, useStats } from '@/lib/client/hooks';
import { bytes } from '@/lib/client/format';

function Chip({ ok, label, value, title, testId }: { ok: boolean | undefined; label: string; value: string; title?: string; testId?: string }) {
  return (
    <span title={title} data-testid={testId} className="inline-flex items-center gap-1.5 rounded border border-slate-700 bg-slate-900 px-2 py-0.5 text-xs">
      <span className={`h-2 w-2 rounded-full ${ok === undefined ? 'bg-slate-500' : ok ? 'bg-emerald-500' : 'bg-amber-500'}`} aria-hidden />
      <span className="text-slate-400">{label}</span>
      <span className="text-slate-100">{value}</span>
    </span>
  );
}

export function TopBar({ connected, menuOpen, onMenu }: { connected: boolean; menuOpen: boolean; onMenu: () => void }) {
  const health = useHealth();
  const me = useMe();
  const stats = useStats();
  const h = health.data;
  const [busy, setBusy] = useState(false);
  return (
    <header className="flex h-11 shrink-0 items-center gap-3 border-b border-slate-800 bg-slate-950 px-3">
      <button
        type="button"
        onClick={onMenu}
        aria-expanded={menuOpen}
        aria-controls="sidebar"
        className="rounded border border-slate-700 px-2 py-1 text-sm text-slate-200 sm:hidden"
        data-testid="menu-button"
      >
        Menu
      </button>
      <Link href="/" prefetch={false} className="flex items-center gap-2 font-semibold tracking-tight text-slate-100">
        <span className="grid h-6 w-6 place-items-center rounded bg-sky-700 text-xs font-bold text-white" aria-hidden>
          IC
        </span>
        Instaclone
      </Link>
      <div className="ml-4 hidden flex-wrap items-center gap-2 md:flex" data-testid="health-bar">
        <Chip testId="health-qemu" ok={h?.qemu.ok} label="QEMU" value={h ? (h.qemu.ok ? (h.qemu.version ?? 'ok') : 'missing') : '…'} title={h?.qemu.error ?? h?.qemu.warning} />
        <Chip testId="health-kvm" ok={h?.kvm.available} label="Accel" value={h ? (h.kvm.available ? 'KVM' : 'TCG') : '…'} title={h?.kvm.reason} />
        <Chip testId="health-db" ok={h?.database.ok} label="DB" value={h ? `${h.database.kind}${h.database.ok ? '' : ' down'}` : '…'} title={h?.database.error} />
        <Chip ok={connected} label="Live" value={connected ? 'on' : 'reconnecting'} title="Server-sent events from the engine" testId="live" />
        {stats.data && stats.data.totals.savedBytes > 0 && <Chip ok label="Saved by sharing" value={bytes(stats.data.totals.savedBytes)} />}
      </div>
      <div className="ml-auto flex items-center gap-3 text-sm">
        {me.data && (
          <span data-testid="whoami" className="text-slate-300">
            <span className="hidden sm:inline">{me.data.name} </span>
            <span className="rounded bg-slate-800 px-1.5 py-0.5 text-xs text-slate-300">{me.data.role}</span>
          </span>
        )}
        <button
          type="button"
          disabled={busy}
          className="rounded px-2 py-1 text-slate-300 hover:bg-slate-800 hover:text-white"
          onClick={async () => {
            setBusy(true);
            try {
              await logout();
            } finally {
              location.assign('/login');
            }
          }}
        >
          Log out
        </button>
      </div>
    </header>
  );
}
