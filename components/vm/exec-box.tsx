'use client';
// Run a command in the guest through its agent. The command line is split like a shell would (quotes),
// then validated with the shared execSchema; the output is shown with its exit code.
import { useState } from 'react';
import { describeZodError, execSchema } from '@/lib/validations';
import { execAction } from '@/app/actions/vms';
import { unwrap } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import type { ExecResult } from '@/lib/client/types';
import { Button } from '@/components/ui/button';
import { ErrorNote } from '@/components/ui/misc';

export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (cur || has) out.push(cur);
      cur = '';
      has = false;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else cur += c;
  }
  if (cur || has) out.push(cur);
  return out;
}

export function ExecBox({ vmRef, disabledReason }: { vmRef: string; disabledReason?: string | null }) {
  const [line, setLine] = useState('uname -a');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<(ExecResult & { ms: number; cmd: string }) | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setResult(null); // the previous command's output must not sit under this command's error
    const parsed = execSchema.safeParse({ command: splitArgs(line) });
    if (!parsed.success) {
      setError(describeZodError(parsed.error));
      return;
    }
    setBusy(true);
    const t0 = performance.now();
    try {
      const r = await unwrap(execAction({ ref: vmRef, command: parsed.data.command, timeoutMs: parsed.data.timeoutMs }));
      setResult({ ...r, ms: performance.now() - t0, cmd: line });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} className="space-y-2">
      <label htmlFor="exec-cmd" className="block text-xs text-slate-400">
        Command to run in the guest (through the guest agent, no shell unless you call one: sh -c &quot;…&quot;)
      </label>
      <div className="flex gap-2">
        <input
          id="exec-cmd"
          value={line}
          onChange={(e) => setLine(e.target.value)}
          disabled={!!disabledReason}
          className="flex-1 rounded border border-slate-700 bg-slate-950 px-2 py-1.5 font-mono text-sm"
        />
        <Button type="submit" variant="primary" busy={busy} disabled={busy || !!disabledReason} title={disabledReason ?? undefined}>
          Run
        </Button>
      </div>
      {disabledReason && (
        <p className="text-xs text-slate-400" data-testid="exec-reason">
          {disabledReason}
        </p>
      )}
      <ErrorNote error={error} />
      {result && (
        <div className="rounded border border-slate-800 bg-black/50" data-testid="exec-result">
          <div className="flex gap-3 border-b border-slate-800 px-2 py-1 text-xs text-slate-400">
            <span className="min-w-0 break-all font-mono">$ {result.cmd}</span>
            <span className={`ml-auto ${result.exitCode === 0 ? 'text-emerald-400' : 'text-rose-400'}`}>exit {result.exitCode}</span>
            <span>{Math.round(result.ms)} ms</span>
          </div>
          <pre className="max-h-64 overflow-auto px-2 py-1 font-mono text-xs whitespace-pre-wrap text-slate-200">{result.stdout}</pre>
          {result.stderr && <pre className="max-h-32 overflow-auto px-2 py-1 font-mono text-xs whitespace-pre-wrap text-rose-300">{result.stderr}</pre>}
        </div>
      )}
    </form>
  );
}
