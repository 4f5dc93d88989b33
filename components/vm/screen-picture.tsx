'use client';
// The guest's screen as a picture that refreshes (QMP screendump through GET /api/v1/vms/REF/screen):
// many real VMs print only to the screen, so a boot stuck at a boot loader is visible here. The next
// picture is asked for only after the last one arrived, and not while the tab is hidden. With
// live=false it stops asking and keeps the last picture (a failed boot stays visible).
import { useEffect, useRef, useState } from 'react';
import { ApiError, enc } from '@/lib/client/api/http';

export function ScreenPicture({ vmRef, label, intervalMs = 2000, live = true }: { vmRef: string; label: string; intervalMs?: number; live?: boolean }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [at, setAt] = useState<number | null>(null);
  const [count, setCount] = useState(0);
  const url = useRef<string | null>(null);

  // the blob URL lives until the next picture replaces it or the component goes
  useEffect(
    () => () => {
      if (url.current) URL.revokeObjectURL(url.current);
      url.current = null;
    },
    [],
  );

  useEffect(() => {
    if (!live) return;
    let on = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const ctl = new AbortController();
    async function poll() {
      timer = null;
      if (!on) return;
      if (document.hidden) {
        timer = setTimeout(poll, intervalMs);
        return;
      }
      try {
        const res = await fetch(`/api/v1/vms/${enc(vmRef)}/screen`, { credentials: 'same-origin', cache: 'no-store', signal: ctl.signal });
        if (!res.ok) {
          const d = (await res.json().catch(() => ({}))) as { error?: string };
          throw new ApiError(res.status, d.error ?? `HTTP ${res.status}`);
        }
        const next = URL.createObjectURL(await res.blob());
        if (!on) return URL.revokeObjectURL(next);
        if (url.current) URL.revokeObjectURL(url.current);
        url.current = next;
        setSrc(next);
        setAt(Date.now());
        setCount((c) => c + 1);
        setError(null);
      } catch (e) {
        if (!on) return;
        setError((e as Error).message);
      }
      if (on) timer = setTimeout(poll, intervalMs);
    }
    void poll();
    return () => {
      on = false;
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [vmRef, intervalMs, live]);

  return (
    <figure className="space-y-1" data-testid="screen" data-pictures={count}>
      {src ? (
        // a blob: URL of a PNG that changes every refresh: next/image has nothing to optimise here
        // eslint-disable-next-line @next/next/no-img-element
        <img src={src} alt={label} data-testid="screen-picture" className="max-h-[480px] w-auto max-w-full rounded border border-slate-800 bg-black [image-rendering:pixelated]" />
      ) : (
        !error && live && <p className="text-sm text-slate-400">Taking a picture of the screen…</p>
      )}
      <figcaption className="text-xs text-slate-400">
        {error && live ? (
          <span role="status" className="text-amber-300" data-testid="screen-error">
            {error}
          </span>
        ) : at ? (
          live ? `Refreshed every ${intervalMs / 1000} s · last picture ${new Date(at).toLocaleTimeString()}` : `The last picture, taken ${new Date(at).toLocaleTimeString()}`
        ) : null}
      </figcaption>
    </figure>
  );
}
