'use client';
// The VM's serial console in the browser (xterm.js): output streamed from /api/v1/vms/:ref/serial (SSE),
// keystrokes posted back (batched). The terminal, EventSource and timers are disposed on unmount.
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { typeSerialAction } from '@/app/actions/vms';
import { unwrap } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { parseSerialChunk } from '@/lib/engine/events';

/** `readOnlyReason`: why typing is off (the role, the VM's state, a parent being prepared): said as it is. */
export function SerialConsole({ vmRef, canType, rows = 20, readOnlyReason }: { vmRef: string; canType: boolean; rows?: number; readOnlyReason?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const textRef = useRef('');
  // Whether typing is allowed can change (the role or the VM state arrives later) without tearing the
  // terminal down: a new terminal would drop the focus and what was being typed.
  const canTypeRef = useRef(canType);
  const termRef = useRef<import('@xterm/xterm').Terminal | null>(null);
  const typeRef = useRef<(d: string) => void>(() => undefined);

  useEffect(() => {
    canTypeRef.current = canType;
    const term = termRef.current;
    if (term) {
      term.options.disableStdin = !canType;
      term.options.cursorBlink = canType;
    }
  }, [canType]);

  useEffect(() => {
    let disposed = false;
    let es: EventSource | null = null;
    let term: import('@xterm/xterm').Terminal | null = null;
    let pending = '';
    let sending = false;
    let flushTimer: ReturnType<typeof setTimeout> | null = null;
    // One request at a time, so keystrokes reach the guest in the order they were typed.
    const flush = async () => {
      flushTimer = null;
      if (sending || disposed) return;
      const data = pending;
      pending = '';
      if (!data) return;
      sending = true;
      try {
        await unwrap(typeSerialAction({ ref: vmRef, data }));
        setError(null);
      } catch (e) {
        setError(errorText(e));
      } finally {
        sending = false;
        if (pending && !flushTimer) flushTimer = setTimeout(flush, 0);
      }
    };
    const type = (d: string) => {
      if (!canTypeRef.current) return;
      pending += d;
      if (!flushTimer && !sending) flushTimer = setTimeout(flush, 40);
    };
    typeRef.current = type;
    (async () => {
      const { Terminal } = await import('@xterm/xterm');
      if (disposed || !box.current) return;
      term = new Terminal({
        rows,
        cols: 100,
        convertEol: true,
        cursorBlink: canTypeRef.current,
        disableStdin: !canTypeRef.current,
        fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
        fontSize: 13,
        scrollback: 2000,
        theme: { background: '#020617', foreground: '#e2e8f0' },
      });
      const hadFocus = document.activeElement === box.current;
      term.open(box.current);
      termRef.current = term;
      term.onData(type);
      // Clicked before the terminal was loaded: the box had the focus (and the keys typed meanwhile).
      if (hadFocus) term.focus();
      if (textRef.current) term.write(textRef.current);
    })();
    es = new EventSource(`/api/v1/vms/${encodeURIComponent(vmRef)}/serial`);
    es.onopen = () => setStatus('live');
    es.onerror = () => setStatus('reconnecting');
    es.onmessage = (m) => {
      const msg = parseSerialChunk(m.data); // anything else is ignored
      if (!msg) return;
      if ('reset' in msg) {
        termRef.current?.reset();
        textRef.current = '';
        setText('');
      } else if (msg.data) {
        termRef.current?.write(msg.data);
        // A plain-text mirror (bounded) for screen readers and tests; also replayed into the
        // terminal if the stream was faster than the terminal's code.
        textRef.current = (textRef.current + msg.data).slice(-8000);
        setText(textRef.current);
      }
    };
    return () => {
      disposed = true;
      es?.close();
      if (flushTimer) clearTimeout(flushTimer);
      termRef.current = null;
      typeRef.current = () => undefined;
      term?.dispose();
    };
  }, [vmRef, rows]);

  /** Keys typed into the box before the terminal has loaded (it then has the focus). */
  function onKeyDown(e: React.KeyboardEvent<HTMLDivElement>) {
    if (termRef.current || !canTypeRef.current || e.ctrlKey || e.metaKey || e.altKey) return;
    const map: Record<string, string> = { Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b' };
    const d = e.key.length === 1 ? e.key : map[e.key];
    if (!d) return;
    e.preventDefault();
    typeRef.current(d);
  }

  return (
    <div className="space-y-1">
      <div className="flex items-center gap-2 text-xs text-slate-400">
        <span className={`h-2 w-2 rounded-full ${status === 'live' ? 'bg-emerald-500' : 'bg-amber-500'}`} aria-hidden />
        serial console: {status}
        {!canType && <span data-testid="serial-readonly">({readOnlyReason ?? 'view only'})</span>}
        {canType && <span>— click the terminal and type; Enter sends</span>}
      </div>
      <div
        ref={box}
        tabIndex={canType ? 0 : -1}
        onKeyDown={onKeyDown}
        className="overflow-hidden rounded border border-slate-800 bg-[#020617] p-1"
        data-testid="serial-console"
        aria-label="Serial console"
      />
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
