'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useState, type ReactNode } from 'react';
import { useEngineEvents } from '@/lib/client/use-engine-events';
import { TaskPanel } from '@/components/tasks/task-panel';
import { ResourceTree } from './resource-tree';
import { TopBar } from './top-bar';

const NAV = [
  { href: '/', label: 'Lineage' },
  { href: '/prepare', label: 'Prepare template' },
  { href: '/images', label: 'Images' },
  { href: '/pools', label: 'Pools' },
  { href: '/hosts', label: 'Hosts' },
  { href: '/demo', label: 'Demo' },
  { href: '/performance', label: 'Performance' },
  { href: '/wall', label: 'Wall screen' },
];

export function ConsoleShell({ children }: { children: ReactNode }) {
  const { connected } = useEngineEvents();
  const path = usePathname();
  // below 640 px the sidebar is a menu behind a button (closed again when a link is followed)
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  return (
    <>
      <a href="#content" className="sr-only rounded bg-sky-700 px-3 py-2 text-white focus:not-sr-only focus:fixed focus:top-2 focus:left-2 focus:z-50">
        Skip to content
      </a>
      <div className="flex h-screen flex-col bg-slate-950 text-slate-200" data-live={connected ? 'on' : 'off'}>
        <TopBar connected={connected} menuOpen={menuOpen} onMenu={() => setMenuOpen((o) => !o)} />
        <div className="relative flex min-h-0 flex-1">
          <aside
            id="sidebar"
            data-testid="sidebar"
            className={`${menuOpen ? 'flex' : 'hidden'} absolute inset-0 z-30 w-full flex-col border-r border-slate-800 bg-slate-950 sm:static sm:flex sm:w-60 sm:shrink-0 sm:bg-slate-900/60`}
          >
            <nav aria-label="Main" className="border-b border-slate-800 p-2">
              <ul className="space-y-0.5">
                {NAV.map((n) => (
                  <li key={n.href}>
                    <Link
                      href={n.href}
                      prefetch={false}
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
            <main className="min-h-0 flex-1 overflow-x-hidden overflow-y-auto p-3 outline-none sm:p-4" id="content" tabIndex={-1}>
              {children}
            </main>
            <TaskPanel />
          </div>
        </div>
      </div>
    </>
  );
}
