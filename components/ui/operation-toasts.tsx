'use client';
// Shows the end of every operation this tab started (lib/client/operation-watch.ts) as one toast,
// whichever component started it and whether or not that component is still on the screen.
import { useEffect } from 'react';
import { onOperationEnd } from '@/lib/client/operation-watch';
import { useToast } from './toasts';

export function OperationToasts() {
  const toast = useToast();
  useEffect(() => onOperationEnd(({ tone, target, href, text }) => toast({ tone, target, href, text })), [toast]);
  return null;
}
