'use client';
// History for one VM or template: its tasks (with logs) and the event log (who, what, when, result).
import { useLog, useTasks } from '@/lib/client/hooks';
import { ago, ms } from '@/lib/client/format';
import { TaskList } from './task-panel';

export function History({ target }: { target: string }) {
  const tasks = useTasks(target);
  const log = useLog(target);
  return (
    <div className="grid gap-3 lg:grid-cols-2">
      <div>
        <h3 className="mb-1 text-xs font-semibold uppercase text-slate-400">Tasks</h3>
        <div className="rounded border border-slate-800">
          <TaskList tasks={tasks.data ?? []} max={20} />
        </div>
      </div>
      <div>
        <h3 className="mb-1 text-xs font-semibold uppercase text-slate-400">Event log</h3>
        <ul className="max-h-64 overflow-y-auto rounded border border-slate-800 text-xs" data-testid="event-log">
          {(log.data ?? []).slice(0, 50).map((e) => (
            <li key={e.id} className="grid grid-cols-[4rem_minmax(0,1fr)_4rem] gap-2 sm:grid-cols-[5rem_5rem_1fr_4rem] border-b border-slate-800/60 px-2 py-1">
              <span className="text-slate-400" title={e.at}>
                {ago(e.at)}
              </span>
              <span className="hidden truncate text-slate-400 sm:block">{e.actor}</span>
              <span className={e.result === 'ok' ? 'text-slate-200' : 'text-rose-300'}>
                {e.action}
                {e.message ? ` — ${e.message}` : ''}
              </span>
              <span className="text-right text-slate-400">{e.durationMs ? ms(e.durationMs) : ''}</span>
            </li>
          ))}
          {log.data?.length === 0 && <li className="px-2 py-1 text-slate-400">Nothing yet.</li>}
        </ul>
      </div>
    </div>
  );
}
