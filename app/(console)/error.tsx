'use client';
export default function ConsoleError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <div className="space-y-3">
      <h1 className="text-lg font-semibold text-rose-300">This page failed</h1>
      <p role="alert" className="rounded border border-rose-800 bg-rose-950/50 px-3 py-2 text-sm text-rose-200">
        {error.message}
      </p>
      <button type="button" onClick={reset} className="rounded border border-slate-600 bg-slate-800 px-3 py-1.5 text-sm">
        Try again
      </button>
    </div>
  );
}
