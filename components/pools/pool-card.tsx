'use client';
// One pool: spare / claimed / refilling counts, its template and a push in progress, claim latency and
// refill rate, its members, and the actions (claim, release, resize, push, remove) for operators.
import { useState } from 'react';
import Link from 'next/link';
import type { PoolView } from '@/lib/client/api/pools';
import { claimAction, pushPoolAction, removePoolAction, resizePoolAction } from '@/app/actions/pools';
import { releaseVmAction } from '@/app/actions/vms';
import { unwrap } from '@/lib/client/actions';
import { untilDone } from '@/lib/client/operation-watch';
import { isOperationFailure } from '@/lib/client/follow';
import { pushNote } from '@/lib/client/end-notes';
import { invalidate } from '@/lib/client/query-keys';
import { useQueryClient } from '@tanstack/react-query';
import { errorText } from '@/lib/client/api/http';
import { useCan, useLs } from '@/lib/client/hooks';
import { ms, msFine, seconds } from '@/lib/client/format';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { Badge, ErrorNote, Panel, Progress } from '@/components/ui/misc';
import { useToast } from '@/components/ui/toasts';

const field = 'rounded border border-slate-600 bg-slate-900 px-2 py-0.5 text-xs';

export function PoolCard({ pool }: { pool: PoolView }) {
  const can = useCan('operator');
  const qc = useQueryClient();
  const toast = useToast();
  const ls = useLs();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [label, setLabel] = useState('');
  const [size, setSize] = useState(String(pool.size));
  const [spares, setSpares] = useState(String(pool.spares));
  const [pushTo, setPushTo] = useState('');
  const [confirmRm, setConfirmRm] = useState(false);
  const templates = (ls.data?.templates ?? []).filter((t) => t.state === 'frozen' && t.id !== pool.templateId);

  /** `fn` answers the toast's text, or null when the operation watcher toasts the end (a push). */
  async function run(what: string, fn: () => Promise<string | null>) {
    setBusy(what);
    setError(null);
    try {
      const text = await fn();
      if (text) toast({ tone: 'ok', target: pool.name, text });
    } catch (e) {
      setError(errorText(e));
      if (!isOperationFailure(e)) toast({ tone: 'error', target: pool.name, text: `${what} failed: ${errorText(e)}` });
    } finally {
      setBusy(null);
      invalidate(qc, 'pool', 'vm');
    }
  }

  const lat = pool.claimLatencyMs;
  return (
    <div data-testid={`pool-${pool.name}`}>
      <Panel
        title={
          <span className="flex items-center gap-2">
            <span data-testid="pool-title">{pool.name}</span>
            <span data-testid="pool-template-now">
              <Badge tone="indigo">{pool.template ?? pool.templateId}</Badge>
            </span>
            {pool.state !== 'active' && <Badge tone="amber">{pool.state}</Badge>}
          </span>
        }
      >
        <div className="space-y-3 text-sm">
          <div className="flex flex-wrap gap-4 tabular-nums">
            <span>
              spares <b data-testid="pool-ready">{pool.ready}</b>/{pool.spares}
            </span>
            <span>
              claimed <b data-testid="pool-claimed">{pool.claimed}</b>
            </span>
            <span>
              refilling <b data-testid="pool-refilling">{pool.refilling}</b>
            </span>
            <span>size {pool.size}</span>
            <span>on release: {pool.onRelease}</span>
            {pool.ttlSec && <span>TTL {seconds(pool.ttlSec)}</span>}
            <span title="claim latency at the engine over the last hour">
              claim p50 {lat.p50 === null ? '–' : msFine(lat.p50)} · p95 {lat.p95 === null ? '–' : msFine(lat.p95)} ({lat.n})
            </span>
            <span title="spares forked per minute over the last 10 minutes, and the mean fork time per spare">
              refill {pool.refill.perMinute}/min{pool.refill.meanMs !== null ? ` · ${ms(pool.refill.meanMs)} each` : ''}
            </span>
            <span>claims <b>{pool.claims}</b></span>
          </div>
          {pool.push && (
            <div data-testid="pool-push">
              <Progress value={pool.push.total ? pool.push.done / pool.push.total : 1} label={`push to ${pool.template}: ${pool.push.done}/${pool.push.total} children on the new template (claimed ones roll when released)`} />
            </div>
          )}
          {pool.error && <ErrorNote error={`Last refill failed: ${pool.error}`} />}
          <ul className="space-y-1" data-testid="pool-members">
            {pool.members.map((m) => (
              <li key={m.vmId} className="flex flex-wrap items-center gap-x-2 gap-y-1">
                <Link href={`/vms/${m.name ?? m.vmId}`} className="text-sky-300 hover:underline">
                  {m.name ?? m.vmId}
                </Link>
                <Badge tone={m.state === 'claimed' ? 'sky' : m.state === 'spare' ? 'emerald' : 'amber'}>{m.state}</Badge>
                {m.host && (
                  <Badge tone="indigo" title={`on host ${m.host}`}>
                    {m.host}
                  </Badge>
                )}
                {m.templateId !== pool.templateId && <Badge tone="amber">old template</Badge>}
                {m.claimedBy && (
                  <span className="text-xs text-slate-400">
                    by {m.claimedBy}
                    {m.label ? ` (${m.label})` : ''}
                    {m.expiresAt ? ` until ${new Date(m.expiresAt).toLocaleTimeString()}` : ''}
                  </span>
                )}
                {can && m.state === 'claimed' && (
                  <Button size="sm" busy={busy === `release ${m.vmId}`} aria-label={`Release ${m.name}`} onClick={() => run(`release ${m.vmId}`, async () => `${(await unwrap(releaseVmAction({ ref: m.vmId }))).name} released`)}>
                    Release
                  </Button>
                )}
              </li>
            ))}
          </ul>
          {can ? (
            <div className="flex flex-wrap items-center gap-2 border-t border-slate-800 pt-3">
              <input className={field} placeholder="label" value={label} onChange={(e) => setLabel(e.target.value)} aria-label="Claim label" />
              <Button
                size="sm"
                variant="primary"
                busy={busy === 'claim'}
                disabled={pool.state !== 'active'}
                data-testid="pool-claim"
                onClick={() => run('claim', async () => {
                  const r = await unwrap(claimAction({ ref: pool.name, ...(label ? { label } : {}) }));
                  return `claimed ${r.vm.name} in ${msFine(r.claimMs)}`;
                })}
              >
                Claim
              </Button>
              <span className="mx-2 h-4 border-l border-slate-700" />
              <input className={`${field} w-16`} type="number" min={1} value={size} onChange={(e) => setSize(e.target.value)} aria-label="Size" />
              <input className={`${field} w-16`} type="number" min={0} value={spares} onChange={(e) => setSpares(e.target.value)} aria-label="Spares" />
              <Button size="sm" busy={busy === 'resize'} onClick={() => run('resize', async () => (await unwrap(resizePoolAction({ ref: pool.name, size: Number(size), spares: Number(spares) })), 'resized'))}>
                Resize
              </Button>
              <span className="mx-2 h-4 border-l border-slate-700" />
              <select className={field} value={pushTo} onChange={(e) => setPushTo(e.target.value)} aria-label="Push to template" data-testid="pool-push-template">
                <option value="">push to…</option>
                {templates.map((t) => (
                  <option key={t.id} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </select>
              <Button size="sm" disabled={!pushTo} busy={busy === 'push'} data-testid="pool-push-button" onClick={() => run('push', async () => (await untilDone(pushPoolAction({ ref: pool.name, template: pushTo }), pushNote(pool.name, pushTo)), null))}>
                Push
              </Button>
              <Button size="sm" variant="danger" className="ml-auto" onClick={() => setConfirmRm(true)}>
                Remove
              </Button>
            </div>
          ) : (
            <p className="text-xs text-slate-400">Read-only: claim, release, resize, push and remove need the operator role.</p>
          )}
          {error && <ErrorNote error={error} />}
        </div>
        <ConfirmDialog
          open={confirmRm}
          title={`Remove pool ${pool.name}?`}
          body={`Every child of pool ${pool.name} is removed, the ${pool.claimed} claimed one(s) too.`}
          confirmLabel="Remove pool"
          busy={busy === 'remove'}
          onClose={() => setConfirmRm(false)}
          onConfirm={() => run('remove', async () => (setConfirmRm(false), `removed ${(await unwrap(removePoolAction({ ref: pool.name }))).children} child(ren)`))}
        />
      </Panel>
    </div>
  );
}
