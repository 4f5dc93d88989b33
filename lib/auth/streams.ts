// Long-lived streams (server-sent events, serial output): at most MAX per user, re-checked every
// 10 s (an expired session or a revoked token ends them), and ended at once at logout.
import { EngineError } from '../engine/errors';
import { config } from '../config';

const recheckMs = () => config().web.streamRecheckMs;
export const maxStreamsPerUser = () => config().web.maxStreamsPerUser;

interface Entry {
  user: string;
  sessionHash?: string;
  close: () => void;
}

const holder = globalThis as unknown as { __instacloneStreams?: Set<Entry> };
const open = (holder.__instacloneStreams ??= new Set());

export interface StreamSlot {
  /** what ends the stream (called once: at logout, expiry, revocation) */
  onEnd(fn: () => void): void;
  /** the stream ended by itself (client gone) */
  release(): void;
}

/**
 * Admits one more stream for `user` or refuses it (429). `stillAllowed` is asked every 10 s;
 * `sessionHash` lets endStreamsOfSession() close it at logout.
 */
export function admitStream(user: string, sessionHash: string | undefined, stillAllowed: () => Promise<boolean>): StreamSlot {
  const mine = [...open].filter((e) => e.user === user).length;
  if (mine >= maxStreamsPerUser()) {
    throw new EngineError('too_many', `${user} has ${mine} live streams open already (the limit): close some console tabs and try again.`);
  }
  let ender: () => void = () => {};
  let ended = false;
  const entry: Entry = {
    user,
    sessionHash,
    close: () => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      open.delete(entry);
      ender();
    },
  };
  const timer = setInterval(() => {
    stillAllowed().then(
      (ok) => ok || entry.close(),
      () => undefined, // a database hiccup is not a revocation
    );
  }, recheckMs());
  timer.unref?.();
  open.add(entry);
  return {
    onEnd: (fn) => (ender = fn),
    release: () => {
      ended = true;
      clearInterval(timer);
      open.delete(entry);
    },
  };
}

/** Logout: the session's streams end now, not at the next re-check. */
export function endStreamsOfSession(sessionHash: string): void {
  for (const e of [...open]) if (e.sessionHash === sessionHash) e.close();
}

export const openStreamCount = (user?: string) => [...open].filter((e) => user === undefined || e.user === user).length;
