'use client';
// The one SSE channel: every engine event invalidates the query keys it concerns, coalesced so a
// fork of 500 children refetches a handful of times, not 500. The EventSource reconnects on its own;
// it is closed when the component unmounts (wall screens run for days).
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { touches, type RootKey, type Subject } from './query-keys';
import type { EngineEvent } from './types';

/** What an engine event touches (query-keys.ts `touches`); serial output touches no query. */
function subjectsOf(ev: EngineEvent): Subject[] {
  switch (ev.type) {
    case 'task':
      return [ev.state !== 'running' && ev.state !== undefined ? 'taskEnded' : 'task'];
    case 'vm':
    case 'template':
    case 'slot':
    case 'pool':
      return [ev.type];
    case 'serial':
      return [];
    default:
      return ['all'];
  }
}

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
        let ev: EngineEvent;
        try {
          ev = JSON.parse(m.data) as EngineEvent;
        } catch {
          return;
        }
        if (ev.type === 'ping' || ev.type === 'hello') return;
        for (const l of listeners) {
          try {
            l(ev);
          } catch {
            /* a listener's problem is not the channel's */
          }
        }
        mark(...subjectsOf(ev).flatMap((sub) => touches[sub]));
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
