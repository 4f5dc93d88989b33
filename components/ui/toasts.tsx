'use client';
// Notifications tied to the VM or template they concern (cockpit-machines). Bounded: at most 6 shown.
import Link from 'next/link';
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';

export interface Toast {
  id: number;
  tone: 'ok' | 'error' | 'info';
  text: string;
  href?: string;
  target?: string;
}
const Ctx = createContext<(t: Omit<Toast, 'id'>) => void>(() => {});
export const useToast = () => useContext(Ctx);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const timers = useRef(new Map<number, ReturnType<typeof setTimeout>>());
  const dismiss = useCallback((id: number) => {
    setToasts((ts) => ts.filter((t) => t.id !== id));
    const tm = timers.current.get(id);
    if (tm) clearTimeout(tm);
    timers.current.delete(id);
  }, []);
  const push = useCallback(
    (t: Omit<Toast, 'id'>) => {
      const id = next.current++;
      setToasts((ts) => [...ts.slice(-5), { ...t, id }]);
      timers.current.set(id, setTimeout(() => dismiss(id), t.tone === 'error' ? 15_000 : 5_000));
    },
    [dismiss],
  );
  useEffect(() => {
    const m = timers.current;
    return () => m.forEach((t) => clearTimeout(t));
  }, []);
  return (
    <Ctx.Provider value={push}>
      {children}
      <div className="pointer-events-none fixed right-4 bottom-14 z-50 flex w-96 flex-col gap-2" aria-live="polite">
        {toasts.map((t) => (
          <div
            key={t.id}
            role={t.tone === 'error' ? 'alert' : 'status'}
            data-testid="toast"
            className={`pointer-events-auto rounded border px-3 py-2 text-sm shadow-lg ${
              t.tone === 'error' ? 'border-rose-700 bg-rose-950 text-rose-100' : t.tone === 'ok' ? 'border-emerald-700 bg-emerald-950 text-emerald-100' : 'border-slate-600 bg-slate-800 text-slate-100'
            }`}
          >
            <div className="flex items-start gap-2">
              <div className="flex-1">
                {t.target && (t.href ? <Link prefetch={false} href={t.href} className="font-semibold underline">{t.target}</Link> : <b>{t.target}</b>)}
                {t.target && ': '}
                {t.text}
              </div>
              <button type="button" aria-label="Dismiss" onClick={() => dismiss(t.id)} className="text-slate-400 hover:text-white">
                ×
              </button>
            </div>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
