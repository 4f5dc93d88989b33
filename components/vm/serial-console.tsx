'use client';
// The VM's serial console in the browser (xterm.js): output streamed from /api/v1/vms/:ref/serial (SSE),
// keystrokes posted back (batched). The terminal, EventSource and timers are disposed on unmount.
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { sendSerial } from '@/lib/client/api/vms';
import { errorText } from '@/lib/client/api/http';

export function SerialConsole({ vmRef, canType, rows = 20 }: { vmRef: string; canType: boolean; rows?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const textRef = useRef('');

  useEffect(() => {
    let disposed = false;
    let es: EventSource | null = null;
    let term: import('@xterm/xterm').Terminal | null = null;
    let pending = '';
    let flushTimer: ReturnType<typeof setTimeout> | null = null;
    const flush = async () => {
      flushTimer = null;
      const data = pending;
      pending = '';
      if (!data) return;
      try {
        await sendSerial(vmRef, data);
        setError(null);
      } catch (e) {
        setError(errorText(e));
      }
    };
    (async () => {
      const { Terminal } = await import('@xterm/xterm');
      if (disposed || !box.current) return;
      term = new Terminal({
        rows,
        cols: 100,
        convertEol: true,
        cursorBlink: canType,
        disableStdin: !canType,
        fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
        fontSize: 13,
        scrollback: 2000,
        theme: { background: '#020617', foreground: '#e2e8f0' },
      });
      term.open(box.current);
      if (canType)
        term.onData((d) => {
          pending += d;
          if (!flushTimer) flushTimer = setTimeout(flush, 40);
        });
      es = new EventSource(`/api/v1/vms/${encodeURIComponent(vmRef)}/serial`);
      es.onopen = () => setStatus('live');
      es.onerror = () => setStatus('reconnecting');
      es.onmessage = (m) => {
        try {
          const msg = JSON.parse(m.data) as { data?: string; reset?: boolean };
          if (msg.reset) {
            term?.reset();
            textRef.current = '';
          }
          if (msg.data) {
            term?.write(msg.data);
            // A plain-text mirror (bounded) for screen readers and tests.
            textRef.current = (textRef.current + msg.data).slice(-8000);
            setText(textRef.current);
          }
        } catch {
          /* ignore */
        }
      };
    })();
    return () => {
      disposed = true;
      es?.close();
      if (flushTimer) clearTimeout(flushTimer);
      term?.dispose();
    };
  }, [vmRef, canType, rows]);

  return (
    <div className="space-y-1">
      <div className="flex items-center gap-2 text-xs text-slate-400">
        <span className={`h-2 w-2 rounded-full ${status === 'live' ? 'bg-emerald-500' : 'bg-amber-500'}`} aria-hidden />
        serial console: {status}
        {!canType && <span>(read-only for your role)</span>}
        {canType && <span>— click the terminal and type; Enter sends</span>}
      </div>
      <div ref={box} className="overflow-hidden rounded border border-slate-800 bg-[#020617] p-1" data-testid="serial-console" aria-label="Serial console" />
      <pre className="sr-only" data-testid="serial-text" aria-live="off">
        {text}
      </pre>
      {error && (
        <p role="alert" className="text-xs text-rose-300">
          {error}
        </p>
      )}
    </div>
  );
}
