'use client';
import { useEffect, useRef, useState } from 'react';
import { safeNextPath } from '@/lib/auth/safe-next';
import { api, errorText } from '@/lib/client/api/http';

function Shell({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main className="grid min-h-screen place-items-center bg-slate-950 p-4">
      <div className="w-full max-w-sm rounded-lg border border-slate-800 bg-slate-900 p-6 shadow-xl">
        <div className="mb-5 flex items-center gap-2">
          <span className="grid h-7 w-7 place-items-center rounded bg-sky-700 text-xs font-bold text-white" aria-hidden>
            IC
          </span>
          <h1 className="text-lg font-semibold text-white">{title}</h1>
        </div>
        {children}
      </div>
    </main>
  );
}

const input = 'mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5 text-slate-100';

export function LoginForm({ next }: { next: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/auth/login', { username: String(f.get('username') ?? ''), password: String(f.get('password') ?? '') });
      location.assign(safeNextPath(next));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return (
    <Shell title="Log in to Instaclone">
      <form onSubmit={submit} className="space-y-4">
        <label className="block text-sm text-slate-300" htmlFor="username">
          User name
          <input id="username" name="username" autoComplete="username" required autoFocus className={input} />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="password">
          Password
          <input id="password" name="password" type="password" autoComplete="current-password" required className={input} />
        </label>
        <FormEnd error={error} busy={busy} working="Logging in…" label="Log in" />
        <p className="text-xs text-slate-400">
          First start? The server console printed a one-time setup link (<code>/setup?token=…</code>) for the first admin.
        </p>
      </form>
    </Shell>
  );
}

export function SetupForm({ token }: { token: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const password = String(f.get('password') ?? '');
    if (password !== String(f.get('confirm') ?? '')) {
      setError('The two passwords differ.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/auth/setup', { token: String(f.get('token') ?? ''), password });
      location.assign('/');
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return (
    <Shell title="Set up the first admin">
      <form onSubmit={submit} className="space-y-4">
        <p className="text-sm text-slate-400">Choose the password of the <b>admin</b> user. The setup link works once.</p>
        <label className="block text-sm text-slate-300" htmlFor="token">
          Setup token
          <input id="token" name="token" defaultValue={token} required className={`${input} font-mono text-xs`} />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="password">
          New password
          <input id="password" name="password" type="password" autoComplete="new-password" required minLength={8} autoFocus className={input} />
        </label>
        <label className="block text-sm text-slate-300" htmlFor="confirm">
          Repeat the password
          <input id="confirm" name="confirm" type="password" autoComplete="new-password" required className={input} />
        </label>
        <FormEnd error={error} busy={busy} working="Saving…" label="Set password and log in" />
      </form>
    </Shell>
  );
}

/**
 * Wall screens and kiosks: /token-login#token=VIEWER_TOKEN&next=/wall. The fragment never reaches
 * the server (no token in its logs) and is wiped from the address bar before the token is POSTed.
 */
export function TokenLoginForm() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = useRef('/wall');
  async function send(token: string) {
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ next: string }>('POST', '/api/auth/token-login', { token, next: next.current });
      location.replace(safeNextPath(r.next));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  useEffect(() => {
    const h = new URLSearchParams(location.hash.slice(1));
    if (h.get('next')) next.current = safeNextPath(h.get('next'));
    const token = h.get('token');
    history.replaceState(null, '', location.pathname);
    if (token) void send(token);
  }, []);
  function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    void send(String(new FormData(e.currentTarget).get('token') ?? ''));
  }
  return (
    <Shell title="Open the wall screen">
      <form onSubmit={submit} className="space-y-4">
        <p className="text-sm text-slate-400">A viewer API token opens a read-only session (operators and admins log in with a password).</p>
        <label className="block text-sm text-slate-300" htmlFor="token">
          Viewer token
          <input id="token" name="token" type="password" autoComplete="off" required className={`${input} font-mono text-xs`} />
        </label>
        <FormEnd error={error} busy={busy} working="Opening…" label="Open" />
      </form>
    </Shell>
  );
}

/** The end of every auth form: its error (announced) and its submit button. */
function FormEnd({ error, busy, working, label }: { error: string | null; busy: boolean; working: string; label: string }) {
  return (
    <>
      {error && (
        <p role="alert" className="rounded border border-rose-800 bg-rose-950/60 px-3 py-2 text-sm text-rose-200">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy} className="w-full rounded bg-sky-700 py-2 font-medium text-white hover:bg-sky-600 disabled:opacity-50">
        {busy ? working : label}
      </button>
    </>
  );
}
