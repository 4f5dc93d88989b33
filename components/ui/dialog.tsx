'use client';
// A modal on the native <dialog>: focus moves in, Esc closes, focus returns — keyboard-only use for free.
import { useEffect, useRef, type ReactNode } from 'react';

export function Dialog({ open, onClose, title, children, wide }: { open: boolean; onClose: () => void; title: string; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  // the element that had focus when the dialog opened (the button that opened it) gets it back on
  // close, also when the parent unmounts the dialog (the native <dialog> cannot restore it then)
  const opener = useRef<HTMLElement | null>(null);
  useEffect(
    () => () => {
      const o = opener.current;
      opener.current = null;
      if (o?.isConnected) setTimeout(() => o.focus(), 0);
    },
    [],
  );
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
      d.showModal();
      // React's autoFocus runs before the dialog is shown: move focus to the marked (or first) field.
      d.querySelector<HTMLElement>('[data-autofocus], input:not([disabled]), select, textarea')?.focus();
    }
    if (!open && d.open) {
      d.close();
      const o = opener.current;
      opener.current = null;
      if (o?.isConnected) o.focus();
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      aria-labelledby="dialog-title"
      className={`m-auto w-full ${wide ? 'max-w-3xl' : 'max-w-lg'} rounded-lg border border-slate-700 bg-slate-900 p-0 text-slate-100 shadow-2xl backdrop:bg-black/60`}
    >
      {open && (
        <div className="p-5">
          <div className="mb-4 flex items-start justify-between gap-4">
            <h2 id="dialog-title" className="text-lg font-semibold">
              {title}
            </h2>
            <button type="button" onClick={onClose} aria-label="Close" className="rounded px-2 text-slate-400 hover:bg-slate-800 hover:text-white">
              ×
            </button>
          </div>
          {children}
        </div>
      )}
    </dialog>
  );
}

export function ConfirmDialog({
  open,
  title,
  body,
  confirmLabel,
  onConfirm,
  onClose,
  busy,
  danger = true,
  error,
}: {
  open: boolean;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  busy?: boolean;
  danger?: boolean;
  error?: ReactNode;
}) {
  return (
    <Dialog open={open} onClose={onClose} title={title}>
      <div className="space-y-4 text-sm text-slate-300">
        <div>{body}</div>
        {error}
        <div className="flex justify-end gap-2">
          <button type="button" className="rounded border border-slate-600 bg-slate-800 px-3 py-1.5 text-sm hover:bg-slate-700" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            data-autofocus
            disabled={busy}
            aria-busy={busy || undefined}
            className={`rounded border px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50 ${danger ? 'border-rose-600 bg-rose-700 hover:bg-rose-600' : 'border-sky-500 bg-sky-700 hover:bg-sky-600'}`}
            onClick={onConfirm}
          >
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
