'use client';
// The task panel (Proxmox's bottom "Tasks" strip): running operations with progress, a log per task, history.
import Link from 'next/link';
import { useState } from 'react';
import { useTasks } from '@/lib/client/hooks';
import { ago, ms } from '@/lib/client/format';
import type { Task } from '@/lib/client/types';
import { Progress } from '@/components/ui/misc';

export function TaskRow({ t, open, onToggle }: { t: Task; open: boolean; onToggle: () => void }) {
  const dur = t.endedAt ? Date.parse(t.endedAt) - Date.parse(t.startedAt) : undefined;
  const lastLine = t.log.trim().split('\n').pop();
  return (
    <li className="border-b border-slate-800/70" data-testid="task" data-state={t.state} data-kind={t.kind}>
      <button type="button" onClick={onToggle} aria-expanded={open} className="grid w-full grid-cols-[5rem_minmax(0,1fr)_5rem] items-center sm:grid-cols-[6rem_1fr_8rem_7rem_6rem] gap-3 px-3 py-1 text-left text-xs hover:bg-slate-800/60">
        <span className="font-medium text-slate-200">{t.kind}</span>
        <span className="truncate text-slate-300">
          {t.targetName ?? t.targetId ?? ''}
          {t.state === 'running' && lastLine ? <span className="ml-2 text-slate-400">{lastLine}</span> : null}
          {t.state === 'failed' && t.error ? <span className="ml-2 text-rose-300">{t.error}</span> : null}
        </span>
        <span>{t.state === 'running' ? <Progress value={t.progress} label={`${t.kind} progress`} /> : <span className={t.state === 'failed' ? 'text-rose-400' : 'text-emerald-400'}>{t.state}</span>}</span>
        <span className="hidden truncate text-slate-400 sm:block">{t.actor}</span>
        <span className="hidden text-right text-slate-400 sm:block">{dur !== undefined ? ms(dur) : ago(t.startedAt)}</span>
      </button>
      {open && (
        <pre className="max-h-48 overflow-auto bg-black/40 px-3 py-2 font-mono text-[11px] whitespace-pre-wrap text-slate-300">
          {t.log || '(no log lines)'}
          {t.error ? `\nerror: ${t.error}` : ''}
        </pre>
      )}
    </li>
  );
}

export function TaskList({ tasks, max = 50 }: { tasks: Task[]; max?: number }) {
  const [open, setOpen] = useState<string | null>(null);
  if (tasks.length === 0) return <p className="px-3 py-2 text-xs text-slate-400">No tasks.</p>;
  return (
    <ul>
      {tasks.slice(0, max).map((t) => (
        <TaskRow key={t.id} t={t} open={open === t.id} onToggle={() => setOpen(open === t.id ? null : t.id)} />
      ))}
    </ul>
  );
}

export function TaskPanel() {
  const tasks = useTasks();
  const [expanded, setExpanded] = useState(false);
  const list = tasks.data ?? [];
  const running = list.filter((t) => t.state === 'running');
  const failed = list.filter((t) => t.state === 'failed').length;
  return (
    <section aria-label="Tasks" className="shrink-0 border-t border-slate-800 bg-slate-950" data-testid="task-panel">
      <button type="button" onClick={() => setExpanded(!expanded)} aria-expanded={expanded} className="flex h-8 w-full items-center gap-3 px-3 text-xs text-slate-400 hover:bg-slate-900">
        <span className="font-semibold uppercase tracking-wide">Tasks</span>
        <span className={running.length ? 'text-sky-300' : ''}>{running.length} running</span>
        {failed > 0 && <span className="text-rose-400">{failed} failed</span>}
        {running[0] && (
          <span className="flex min-w-0 flex-1 items-center gap-2">
            <span className="truncate text-slate-300">
              {running[0].kind} {running[0].targetName}
            </span>
            <span className="w-32">
              <Progress value={running[0].progress} label={`${running[0].kind} ${running[0].targetName ?? ''} progress`} />
            </span>
          </span>
        )}
        <span className="ml-auto">{expanded ? '▾ hide' : '▴ show'}</span>
      </button>
      {expanded && (
        <div className="max-h-64 overflow-y-auto border-t border-slate-800">
          <TaskList tasks={[...running, ...list.filter((t) => t.state !== 'running')]} />
          <p className="px-3 py-1 text-[11px] text-slate-400">
            History per VM and template is on their pages. <Link prefetch={false} href="/" className="underline">Lineage</Link>
          </p>
        </div>
      )}
    </section>
  );
}
