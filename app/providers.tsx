'use client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { OperationToasts } from '@/components/ui/operation-toasts';
import { ToastProvider } from '@/components/ui/toasts';

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () => new QueryClient({ defaultOptions: { queries: { staleTime: 2_000, refetchOnWindowFocus: false } } }),
  );
  // toasts and the operation watcher live beside the query client: an operation's end is shown
  // whichever page or dialog started it
  return (
    <QueryClientProvider client={client}>
      <ToastProvider>
        <OperationToasts />
        {children}
      </ToastProvider>
    </QueryClientProvider>
  );
}
