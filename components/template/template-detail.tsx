'use client';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { removeTemplateAction, resumeTemplateAction, templateFilesAction } from '@/app/actions/templates';
import type { FileInfo } from '@/lib/engine/template-files';
import { useAction } from '@/lib/client/actions';
import { useCan, useLs, useStats, useTemplate } from '@/lib/client/hooks';
import { errorText } from '@/lib/client/api/http';
import { ago, bytes, ms, plural } from '@/lib/client/format';
import { persistenceBlockedReason } from '@/lib/client/vm-state';
import { Badge, ErrorNote, KV, MemBar, Panel, StateBadge, StateDot } from '@/components/ui/misc';
import { DetailMissing } from '@/components/ui/detail-missing';
import { Button } from '@/components/ui/button';
import { ConfirmDialog } from '@/components/ui/dialog';
import { useToast } from '@/components/ui/toasts';
import { History } from '@/components/tasks/history';
import { CompatReport, NO_COMPAT } from './compat-report';
import { ForkDialog } from './fork-dialog';
import { WarmupList } from '@/components/prepare/warmup-results';
import { ReadOnlyNote } from '@/components/auth/read-only-note';

export function TemplateDetail({ templateRef }: { templateRef: string }) {
  const q = useTemplate(templateRef);
  const ls = useLs();
  const stats = useStats();
  const canOperate = useCan('operator');
  const resumeMutation = useAction(resumeTemplateAction, 'template', 'vm');
  const removeMutation = useAction(removeTemplateAction, 'template');
  const toast = useToast();
  const router = useRouter();
  const [fork, setFork] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [busy, setBusy] = useState<'resume' | 'delete' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [files, setFiles] = useState<FileInfo[] | { error: string } | null>(null);
  const tid = q.data?.id;
  useEffect(() => {
    if (!tid) return;
    let live = true;
    void templateFilesAction({ ref: tid }).then((r) => live && setFiles(r.ok ? r.data.files : { error: r.error }));
    return () => {
      live = false;
    };
  }, [tid]);

  if (q.isLoading || q.error || !q.data) return <DetailMissing name={templateRef} loading={q.isLoading} error={q.error} />;
  const t = q.data;
  const children = (ls.data?.vms ?? []).filter((v) => v.templateId === t.id);
  const derived = (ls.data?.templates ?? []).filter((d) => d.parentId === t.id);
  const parent = t.parentId ? ls.data?.templates.find((p) => p.id === t.parentId) : undefined;
  const memById = new Map((stats.data?.vms ?? []).map((m) => [m.id, m]));
  const dependants = children.length + derived.length;
  const deleteReason = dependants
    ? `${t.name} cannot be deleted while ${children.length ? plural(children.length, 'child', 'children') : ''}${children.length && derived.length ? ' and ' : ''}${derived.length ? plural(derived.length, 'derived template') : ''} depend on it: delete those first.`
    : null;
  const persistReason = persistenceBlockedReason(t);

  async function resume() {
    setBusy('resume');
    setError(null);
    try {
      const name = (await resumeMutation.mutateAsync({ ref: t.id })).name;
      toast({ tone: 'ok', target: t.name, text: `resumed as ${name ?? 'a VM'}`, href: name ? `/vms/${name}` : undefined });
      if (name) router.push(`/vms/${name}`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }
  async function remove() {
    setBusy('delete');
    setError(null);
    try {
      await removeMutation.mutateAsync({ ref: t.id });
      setConfirmDelete(false);
      toast({ tone: 'ok', target: t.name, text: 'template deleted' });
      router.push('/');
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }

  const timings = Object.entries(t.timings).filter(([, v]) => typeof v === 'number');
  return (
    <div className="space-y-4" data-testid="template-detail">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold text-white">
          <span className="text-indigo-300">◆</span> {t.name}
        </h1>
        <StateBadge state={t.state} />
        <Badge tone={t.quiesced ? 'emerald' : 'slate'} title={t.quiesced ? 'File systems were frozen and flushed before the freeze: persistent children allowed.' : 'Not quiesced: only non-persistent children.'}>
          {t.quiesced ? 'quiesced' : 'not quiesced'}
        </Badge>
        {canOperate && (
          <div className="ml-auto flex flex-wrap gap-2">
            <Button variant="primary" size="sm" disabled={t.state !== 'frozen'} onClick={() => setFork(true)}>
              Fork…
            </Button>
            <Button size="sm" busy={busy === 'resume'} disabled={t.state !== 'frozen' || busy !== null} onClick={resume} title="Start a VM from this template's exact state (e.g. to change it and prepare a new template from it).">
              Resume as VM
            </Button>
            <Button size="sm" variant="danger" disabled={!!deleteReason || busy !== null} title={deleteReason ?? undefined} onClick={() => setConfirmDelete(true)}>
              Delete
            </Button>
          </div>
        )}
      </div>
      <ReadOnlyNote what="Forking, resuming as a VM and deleting this template" />
      {deleteReason && canOperate && (
        <p className="text-xs text-slate-400" data-testid="delete-reason">
          {deleteReason}
        </p>
      )}
      <ErrorNote error={error} />
      {t.error && <ErrorNote error={t.error} />}
      <div className="grid gap-4 xl:grid-cols-3">
        <Panel title="Template">
          <KV
            items={[
              ['id', t.id],
              ['image', t.image],
              ['memory', t.memoryMiB ? `${t.memoryMiB} MiB` : undefined],
              ['vCPUs', t.vcpus],
              ['parent', parent ? <Link prefetch={false} href={`/templates/${parent.name}`} className="text-indigo-300 underline">{parent.name}</Link> : 'none (booted from an image)'],
              ['frozen', t.frozenAt ? ago(t.frozenAt) : undefined],
              ['persistent children', persistReason ? 'no' : 'allowed'],
            ]}
          />
        </Panel>
        <Panel title="Files">
          {files && 'error' in files ? (
            <ErrorNote error={files.error} />
          ) : (
            <table className="stack w-full table-fixed text-sm" data-testid="template-files">
              <thead className="text-xs text-slate-400">
                <tr>
                  <th className="text-left font-normal">file</th>
                  <th className="w-20 text-right font-normal">size</th>
                  <th className="w-20 text-right font-normal">on disk</th>
                </tr>
              </thead>
              <tbody>
                {(files ?? []).map((f) => (
                  <tr key={f.path} className="border-t border-slate-800/60">
                    <td className="py-1 text-slate-300" title={f.path}>
                      {f.name}
                      {/* the whole path on a phone (stacked), one truncated line beside the sizes above */}
                      <div className="font-mono text-[10px] text-slate-400 [overflow-wrap:anywhere] sm:truncate">{f.path}</div>
                    </td>
                    <td className="w-20 py-1 font-mono whitespace-nowrap text-slate-100 sm:text-right" data-label="size">{f.missing ? 'missing' : bytes(f.sizeBytes)}</td>
                    <td className="w-20 py-1 font-mono whitespace-nowrap text-slate-300 sm:text-right" data-label="on disk">{f.missing ? '' : bytes(f.allocatedBytes)}</td>
                  </tr>
                ))}
                {!files && (
                  <tr>
                    <td className="text-slate-400">Loading…</td>
                  </tr>
                )}
              </tbody>
            </table>
          )}
        </Panel>
        <Panel title="Slots and timings">
          <div className="space-y-3 text-sm">
            <p data-testid="template-slots">
              Slots: <b>{t.slots.total}</b> free · <b>{children.length}</b> used by children
              {t.slots.prelaunched ? ` · ${t.slots.prelaunched} prelaunched` : ''}
            </p>
            <KV items={timings.length ? timings.map(([k, v]) => [k.replace(/Ms$/, ''), ms(v)]) : [['timings', '–']]} />
          </div>
        </Panel>
      </div>
      <Panel title="Compatibility report">
        {t.compat ? (
          <CompatReport report={t.compat} />
        ) : (
          <p className="text-sm text-slate-400" data-testid="no-compat">
            {NO_COMPAT}
          </p>
        )}
      </Panel>
      {t.warmup.length > 0 && (
        <Panel title="Warm-up commands">
          <WarmupList warmup={t.warmup} />
        </Panel>
      )}
      <Panel title={`Children (${children.length})${derived.length ? ` and derived templates (${derived.length})` : ''}`}>
        <div className="max-h-96 overflow-y-auto">
          <table className="stack w-full text-left text-sm" data-testid="template-children">
            <thead className="text-xs text-slate-400">
              <tr>
                <th className="py-1">Name</th>
                <th>State</th>
                <th>IP</th>
                <th>Persistent</th>
                <th>Memory shared / private</th>
              </tr>
            </thead>
            <tbody>
              {derived.map((d) => (
                <tr key={d.id} className="border-t border-slate-800/60">
                  <td className="py-1">
                    <Link prefetch={false} href={`/templates/${d.name}`} className="text-indigo-300 hover:underline">
                      ◆ {d.name}
                    </Link>
                  </td>
                  <td data-label="State">{d.state}</td>
                  <td />
                  <td />
                  <td />
                </tr>
              ))}
              {children.map((v) => {
                const m = memById.get(v.id);
                return (
                  <tr key={v.id} className="border-t border-slate-800/60">
                    <td className="py-1" data-label="Name">
                      <Link prefetch={false} href={`/vms/${v.name}`} className="text-slate-100 hover:underline">
                        {v.name}
                      </Link>
                    </td>
                    <td data-label="State">
                      <span className="inline-flex items-center gap-1.5">
                        <StateDot state={v.state} />
                        {v.state}
                      </span>
                    </td>
                    <td className="font-mono text-xs" data-label="IP">{v.ip}</td>
                    <td data-label="Persistent">{v.persistent ? 'yes' : 'no'}</td>
                    <td className="text-xs" data-label="Memory shared / private">
                      {m ? (
                        <span className="inline-flex items-center gap-2">
                          <MemBar shared={m.sharedBytes} priv={m.privateBytes} /> {bytes(m.sharedBytes)} / {bytes(m.privateBytes)}
                        </span>
                      ) : (
                        '–'
                      )}
                    </td>
                  </tr>
                );
              })}
              {children.length + derived.length === 0 && (
                <tr>
                  <td colSpan={5} className="py-2 text-slate-400">
                    No children yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </Panel>
      <Panel title="History">
        <History target={t.id} />
      </Panel>
      {fork && <ForkDialog template={t} open onClose={() => setFork(false)} />}
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete template ${t.name}?`}
        body={<p>Its RAM file, checkpoint, base disk and {t.slots.total} slots are removed. This cannot be undone.</p>}
        confirmLabel={`Delete ${t.name}`}
        busy={busy === 'delete'}
        error={error ? <ErrorNote error={error} /> : undefined}
        onConfirm={remove}
        onClose={() => setConfirmDelete(false)}
      />
    </div>
  );
}
