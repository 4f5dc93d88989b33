'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import type { ReactNode } from 'react';
import { useEngineEvents } from '@/lib/client/use-engine-events';
import { TaskPanel } from '@/components/tasks/task-panel';
import { ToastProvider } from '@/components/ui/toasts';
import { ResourceTree } from './resource-tree';
import { TopBar } from './top-bar';

const NAV = [
  { href: '/', label: 'Lineage' },
  { href: '/prepare', label: 'Prepare template' },
  { href: '/images', label: 'Images' },
  { href: '/pools', label: 'Pools' },
  { href: '/demo', label: 'Demo' },
  { href: '/performance', label: 'Performance' },
  { href: '/wall', label: 'Wall screen' },
];

export function ConsoleShell({ children }: { children: ReactNode }) {
  const { connected } = useEngineEvents();
  const path = usePathname();
  return (
    <ToastProvider>
      <div className="flex h-screen flex-col bg-slate-950 text-slate-200" data-live={connected ? 'on' : 'off'}>
        <TopBar connected={connected} />
        <div className="flex min-h-0 flex-1">
          <aside className="flex w-60 shrink-0 flex-col border-r border-slate-800 bg-slate-925 bg-slate-900/60">
            <nav aria-label="Main" className="border-b border-slate-800 p-2">
              <ul className="space-y-0.5">
                {NAV.map((n) => (
                  <li key={n.href}>
                    <Link
                      href={n.href}
                      aria-current={path === n.href ? 'page' : undefined}
                      className={`block rounded px-2 py-1 text-sm ${path === n.href ? 'bg-sky-900/60 text-white' : 'text-slate-300 hover:bg-slate-800'}`}
                    >
                      {n.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </nav>
            <ResourceTree />
          </aside>
          <div className="flex min-w-0 flex-1 flex-col">
            <main className="min-h-0 flex-1 overflow-y-auto p-4" id="content">
              {children}
            </main>
            <TaskPanel />
          </div>
        </div>
      </div>
    </ToastProvider>
  );
}
