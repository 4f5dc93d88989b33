'use client';
// The one SSE channel: every engine event (lib/engine/events.ts, parsed) invalidates the query keys
// it concerns (query-keys.ts eventTouches), coalesced so a
// fork of 500 children refetches a handful of times, not 500. The EventSource reconnects on its own;
// it is closed when the component unmounts (wall screens run for days).
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { parseStreamEvent, type EngineEvent } from '@/lib/engine/events';
import { keysOfEvent, touches, type RootKey } from './query-keys';

type Listener = (ev: EngineEvent) => void;
const listeners = new Set<Listener>();

/** Subscribe to raw engine events (for progress displays); returns an unsubscribe function. */
export function onEngineEvent(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function useEngineEvents(): { connected: boolean } {
  const qc = useQueryClient();
  const [connected, setConnected] = useState(false);
  const pending = useRef(new Set<RootKey>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    const flush = () => {
      timer.current = null;
      const keys = [...pending.current];
      pending.current.clear();
      for (const k of keys) void qc.invalidateQueries({ queryKey: [k] });
    };
    const mark = (...keys: RootKey[]) => {
      for (const k of keys) pending.current.add(k);
      if (!timer.current) timer.current = setTimeout(flush, 150);
    };
    let es: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let closed = false;
    const open = () => {
      es = new EventSource('/api/events');
      es.onopen = () => {
        setConnected(true);
        // Anything may have changed while disconnected.
        mark(...touches.all);
      };
      es.onerror = () => {
        setConnected(false);
        // EventSource retries by itself unless the server refused (closed state): then retry by hand.
        if (es && es.readyState === EventSource.CLOSED && !closed) {
          es.close();
          retry = setTimeout(open, 3000);
        }
      };
      es.onmessage = (m) => {
        const ev = parseStreamEvent(m.data); // a kind this console does not know (or junk) is dropped
        if (!ev || ev.type === 'ping' || ev.type === 'hello') return;
        for (const l of listeners) {
          try {
            l(ev);
          } catch {
            /* a listener's problem is not the channel's */
          }
        }
        mark(...keysOfEvent(ev));
      };
    };
    open();
    return () => {
      closed = true;
      es?.close();
      if (retry) clearTimeout(retry);
      if (timer.current) clearTimeout(timer.current);
    };
  }, [qc]);

  return { connected };
}
