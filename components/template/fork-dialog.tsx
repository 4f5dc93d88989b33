'use client';
// Fork dialog: count, name prefix, persistence toggle (disabled with the reason when the template is not
// quiesced). Validated with the same zod schema as REST and the CLI; engine errors shown verbatim.
// With `source` (a running VM) it is the live-fork dialog: it offers the quiesce that persistent
// children need, and the result shows the source's pause. The action answers the fork's operation id
// at once; the dialog follows that operation (progress, then the children from its result), and can
// be closed while it runs: the fork goes on, the task panel shows it, and the tab-wide watcher
// (lib/client/operation-watch.ts) toasts its end.
import Link from 'next/link';
import { useEffect, useRef, useState } from 'react';
import { liveForkSchema, describeZodError, LIMITS } from '@/lib/validations';
import { parsePorts } from '@/lib/client/ports';
import { forkAction } from '@/app/actions/templates';
import { liveForkAction } from '@/app/actions/vms';
import { useAction } from '@/lib/client/actions';
import { errorText } from '@/lib/client/api/http';
import { useOperation } from '@/lib/client/use-operation';
import { watchOperation } from '@/lib/client/operation-watch';
import { forkNote } from '@/lib/client/end-notes';
import { useTemplate } from '@/lib/client/hooks';
import { persistenceBlockedReason } from '@/lib/client/vm-state';
import { ms, plural } from '@/lib/client/format';
import type { ForkResult, Template, TemplateDetail, VmView as Vm } from '@/lib/client/types';
import { Dialog } from '@/components/ui/dialog';
import { Button } from '@/components/ui/button';
import { ErrorNote, Progress } from '@/components/ui/misc';

const IDENTITY_FIELDS = ['hostname', 'mac', 'ip', 'machineId', 'vmgenid'] as const;

export function identityCheck(children: ForkResult['children']): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  for (const f of IDENTITY_FIELDS) {
    const seen = new Map<string, string>();
    for (const c of children) {
      const v = c.identity?.[f];
      if (!v) {
        problems.push(`${c.name} has no ${f}`);
        continue;
      }
      const other = seen.get(String(v));
      if (other) problems.push(`${c.name} and ${other} share ${f} ${String(v)}`);
      seen.set(String(v), c.name);
    }
  }
  return { ok: problems.length === 0, problems };
}

export function ForkResultView({ result, template }: { result: ForkResult; template: Template | TemplateDetail }) {
  const check = identityCheck(result.children);
  const bootMs = 'timings' in template ? template.timings.bootMs : undefined; // the detail, once loaded
  const per = result.timings.perChildMs ?? [];
  const avg = per.length ? per.reduce((a, b) => a + b, 0) / per.length : result.timings.totalMs / Math.max(1, result.children.length);
  return (
    <div className="space-y-3" data-testid="fork-result">
      <div className="grid grid-cols-3 gap-2 text-center">
        <div className="rounded border border-slate-700 bg-slate-950 p-2">
          <div className="text-xs text-slate-400">Fork of {result.children.length}, in all</div>
          <div className="text-lg font-semibold text-sky-300" data-testid="fork-total">{ms(result.timings.totalMs)}</div>
        </div>
        <div className="rounded border border-slate-700 bg-slate-950 p-2">
          <div className="text-xs text-slate-400">Per child (avg)</div>
          <div className="text-lg font-semibold text-sky-300">{ms(avg)}</div>
        </div>
        <div className="rounded border border-slate-700 bg-slate-950 p-2">
          <div className="text-xs text-slate-400">Cold boot of {template.image ?? 'the image'}</div>
          <div className="text-lg font-semibold text-slate-200">{ms(bootMs)}</div>
        </div>
      </div>
      {result.pause && result.source && (
        <p className="text-sm text-slate-300" data-testid="live-fork-pause">
          {result.source.name} was paused {ms(result.pause.pauseMs)} ({result.pause.method === 'background-snapshot' ? 'device state only; RAM copied while it ran' : `stop-and-copy: ${result.pause.reason ?? 'RAM copied while paused'}`}) and runs on as itself; the children come from template{' '}
          <Link href={`/templates/${result.template?.name}`} className="text-sky-300 hover:underline">
            {result.template?.name}
          </Link>
          .
        </p>
      )}
      {bootMs && avg > 0 && <p className="text-sm text-slate-300">A child was ready {Math.max(1, Math.round(bootMs / avg))}× faster than a cold boot.</p>}
      <p className={`text-sm ${check.ok ? 'text-emerald-300' : 'text-rose-300'}`} data-testid="identity-check">
        Identity check: {check.ok ? `all ${plural(result.children.length, 'child', 'children')} have distinct hostname, MAC, IP, machine-id and vmgenid.` : check.problems.join('; ')}
      </p>
      <div className="max-h-56 overflow-auto rounded border border-slate-800">
        <table className="stack w-full text-left text-xs">
          <thead className="sticky top-0 bg-slate-900 text-slate-400">
            <tr>
              <th className="px-2 py-1">Child</th>
              <th className="px-2 py-1">ms</th>
              <th className="px-2 py-1">IP</th>
              <th className="px-2 py-1">MAC</th>
              <th className="px-2 py-1">machine-id</th>
            </tr>
          </thead>
          <tbody className="font-mono">
            {result.children.map((c, i) => (
              <tr key={c.id} className="border-t border-slate-800">
                <td className="px-2 py-1" data-label="Child">
                  <Link prefetch={false} href={`/vms/${c.name}`} className="text-sky-300 hover:underline">
                    {c.name}
                  </Link>
                </td>
                <td className="px-2 py-1" data-label="ms">{per[i] !== undefined ? Math.round(per[i]) : '–'}</td>
                <td className="px-2 py-1" data-label="IP">{c.identity?.ip ?? '–'}</td>
                <td className="px-2 py-1" data-label="MAC">{c.identity?.mac ?? '–'}</td>
                <td className="px-2 py-1" data-label="machine-id">{String(c.identity?.machineId ?? '–').slice(0, 12)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function ForkDialog({ template: listed, source, open, onClose }: { template: Template; source?: Vm; open: boolean; onClose: () => void }) {
  // The list carries only a summary: the full record has the boot time and slots.
  const full = useTemplate(listed.id);
  const template = full.data ?? listed;
  const fork = useAction(forkAction, 'vm', 'template');
  const liveFork = useAction(liveForkAction, 'vm', 'template');
  const [count, setCount] = useState('3');
  const [ports, setPorts] = useState<string | null>(null); // null: the template's own list
  const [prefix, setPrefix] = useState('');
  const [persistent, setPersistent] = useState(false);
  const [quiesce, setQuiesce] = useState(true);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [operationId, setOperationId] = useState<string | null>(null);
  const op = useOperation<ForkResult>(operationId);
  const [started, setStarted] = useState<number | null>(null);
  const [now, setNow] = useState(Date.now());
  const [result, setResult] = useState<ForkResult | null>(null);
  const busy = starting || (!!operationId && (!op || op.state === 'running' || op.state === 'pending'));
  const blocked = source
    ? quiesce
      ? null
      : 'Persistent children of a live fork need a quiesce (the file systems frozen for the moment of the fork): tick "Quiesce" above.'
    : persistenceBlockedReason(template);
  const title = source ? source.name : template.name;

  useEffect(() => {
    if (!busy) return;
    const tick = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(tick);
  }, [busy]);

  // the operation's end, once, while the dialog is open: its result (the children, read back) or its
  // one-sentence error. The end's toast is the tab-wide watcher's (shown even after a close).
  const endSeen = useRef<string | null>(null);
  useEffect(() => {
    if (!op || !operationId || endSeen.current === operationId || (op.state !== 'succeeded' && op.state !== 'failed')) return;
    endSeen.current = operationId;
    if (op.state === 'failed') setError(op.error ?? 'The fork failed.');
    else setResult(op.result as ForkResult);
  }, [op, operationId]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const parsed = liveForkSchema.safeParse({
      count: count.trim() === '' ? undefined : Number(count),
      persistent: blocked ? false : persistent,
      prefix: prefix.trim() || undefined,
      quiesce: !!source && quiesce,
      ...(ports !== null ? { ports: parsePorts(ports) } : {}),
    });
    if (!parsed.success) {
      setFieldError(describeZodError(parsed.error));
      return;
    }
    setFieldError(null);
    setStarting(true);
    setStarted(Date.now());
    try {
      const { quiesce: q, ...forkInput } = parsed.data;
      // at once: the operation's id (a refusal of role or input comes back here, with no operation)
      const s = source ? await liveFork.mutateAsync({ ref: source.id, ...forkInput, quiesce: q }) : await fork.mutateAsync({ ref: template.id, ...forkInput });
      const from = source ? { name: source.name, href: `/vms/${source.name}` } : { name: template.name, href: `/templates/${template.name}` };
      setOperationId(watchOperation(s, forkNote(from)).operationId);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setStarting(false);
    }
  }

  // the count is checked as it is typed, with the shared schema's own rule and message
  const countCheck = liveForkSchema.shape.count.safeParse(count.trim() === '' ? undefined : Number(count));
  const countError = countCheck.success ? null : countCheck.error.issues[0]?.message ?? 'Give a number of children.';
  const n = countCheck.success ? countCheck.data : 0;
  const templatePorts = 'ports' in template ? template.ports : [80, 22];
  return (
    <Dialog open={open} onClose={onClose} title={source ? `Fork ${source.name} (live)` : `Fork ${template.name}`} wide={!!result}>
      {result ? (
        <div className="space-y-4">
          <ForkResultView result={result} template={template} />
          <div className="flex justify-end gap-2">
            <Button
              onClick={() => {
                setResult(null);
                setOperationId(null);
              }}
            >
              Fork more
            </Button>
            <Button variant="primary" onClick={onClose} autoFocus>
              Done
            </Button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} className="space-y-4" noValidate aria-describedby="fork-help">
          <p id="fork-help" className="text-sm text-slate-400">
            {source
              ? `${source.name} pauses briefly while a template is made from this moment; it then runs on as itself (same identity, processes and disk) and the children fork from that template.`
              : "Each child maps the template's memory copy-on-write and resumes from its checkpoint."}
            {!source && 'slots' in template && template.slots.total > 0 && ` ${template.slots.total} pre-registered slots are free${template.slots.prelaunched ? ' (VMMs already launched)' : ''}.`}
          </p>
          <div className="grid grid-cols-2 gap-3">
            <label className="block text-sm text-slate-300" htmlFor="fork-count">
              Number of children (1–{LIMITS.maxForkCount})
              <input
                id="fork-count"
                name="count"
                type="number"
                min={1}
                max={LIMITS.maxForkCount}
                value={count}
                onChange={(e) => setCount(e.target.value)}
                className="mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5"
                autoFocus
                required
                aria-invalid={!!countError}
                aria-describedby="fork-count-error"
              />
              {countError && (
                <span id="fork-count-error" role="alert" className="mt-1 block text-xs text-rose-300" data-testid="fork-count-error">
                  {countError}
                </span>
              )}
            </label>
            <label className="block text-sm text-slate-300" htmlFor="fork-prefix">
              Name prefix
              <input
                id="fork-prefix"
                name="prefix"
                value={prefix}
                onChange={(e) => setPrefix(e.target.value)}
                placeholder={`${title} (children become PREFIX-1, PREFIX-2, …)`}
                className="mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5"
              />
            </label>
          </div>
          {source && (
            <div>
              <label className="flex items-center gap-2 text-sm text-slate-200" htmlFor="fork-quiesce">
                <input id="fork-quiesce" type="checkbox" checked={quiesce} aria-describedby="fork-quiesce-help" onChange={(e) => setQuiesce(e.target.checked)} />
                Quiesce {source.name} (freeze its file systems for the moment of the fork)
              </label>
              <p id="fork-quiesce-help" className="mt-1 text-xs text-slate-400">
                With quiesce the disk is copied while {source.name} runs and it pauses only to save its device state; without, it pauses for its whole RAM.
              </p>
            </div>
          )}
          <div>
            <label className={`flex items-center gap-2 text-sm ${blocked ? 'text-slate-400' : 'text-slate-200'}`} htmlFor="fork-persistent">
              <input
                id="fork-persistent"
                type="checkbox"
                role="switch"
                checked={!blocked && persistent}
                disabled={!!blocked}
                aria-describedby="fork-persistent-help"
                onChange={(e) => setPersistent(e.target.checked)}
              />
              Persistent children (own delta disk; can be stopped and cold-booted later)
            </label>
            <p id="fork-persistent-help" className="mt-1 text-xs text-slate-400" data-testid="persistent-reason">
              {blocked ??
                (persistent
                  ? 'On: each child gets its own delta disk on the template base; it can be stopped and cold-booted later, but not reset.'
                  : 'Off: throwaway overlays, all state lost at power-off; reset returns a child to the template state.')}
            </p>
          </div>
          <label className="block text-sm text-slate-300" htmlFor="fork-ports">
            Forwarded guest ports
            <input
              id="fork-ports"
              name="ports"
              value={ports ?? templatePorts.join(', ')}
              onChange={(e) => setPorts(e.target.value)}
              inputMode="numeric"
              aria-describedby="fork-ports-help"
              className="mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5 font-mono"
            />
            <span id="fork-ports-help" className="mt-1 block text-xs text-slate-400">
              TCP ports inside each child reachable from the host&apos;s 127.0.0.1 (the template&apos;s list: {templatePorts.join(', ') || 'none'}).
            </span>
          </label>
          {fieldError && <ErrorNote error={fieldError} />}
          {error && <ErrorNote error={error} />}
          {busy && (
            <div className="space-y-1" data-testid="fork-progress" data-operation={operationId ?? ''}>
              <div className="flex justify-between text-xs text-slate-400">
                <span data-testid="fork-message">{op?.message ?? `forking ${plural(n, 'child', 'children')}…`}</span>
                <span>{started ? ms(now - started) : ''}</span>
              </div>
              <Progress value={op?.progress ?? 0} label="Fork progress" />
              <p className="text-xs text-slate-400">You can close this dialog: the fork goes on, the task panel shows it, and a note says when it ends.</p>
            </div>
          )}
          <div className="flex justify-end gap-2">
            <Button onClick={onClose}>{busy ? 'Close' : 'Cancel'}</Button>
            <Button type="submit" variant="primary" busy={busy} disabled={busy || !!countError}>
              {busy ? 'Forking…' : n ? `Fork ${n} ${n === 1 ? 'child' : 'children'}` : 'Fork'}
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
