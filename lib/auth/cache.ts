// Who a token or session cookie is, remembered for a moment: every API read would otherwise look
// it up in the database (and a token's lastUsed was written on every request). Any change to
// tokens or sessions in this process (revoke, log-out) clears the whole cache at once; the short
// lifetime bounds what another process's change (a second console on the same database) can miss.
import type { Principal } from './tokens';

/** How long a looked-up principal is trusted without asking the database again. */
export const AUTH_CACHE_MS = 2000;
/** A token's lastUsed is written at most this often (it is shown in minutes). */
export const LAST_USED_EVERY_MS = 60_000;

interface Entry {
  principal: Principal | null;
  at: number;
  /** a pending lookup: concurrent requests with the same secret share it */
  pending?: Promise<Principal | null>;
}

interface AuthCache {
  entries: Map<string, Entry>;
  lastUsedWritten: Map<string, number>;
  generation: number;
}

// on globalThis: Next bundles route handlers separately, and a revoke in one bundle must clear the cache every bundle reads
const g = globalThis as typeof globalThis & { __instacloneAuthCache?: AuthCache };
const cache = (g.__instacloneAuthCache ??= { entries: new Map(), lastUsedWritten: new Map(), generation: 0 });

/**
 * The principal for `key` (a hash, never the secret), from the cache or from `lookup`. A lookup
 * that started before an invalidation is not stored.
 */
export async function cachedPrincipal(key: string, lookup: () => Promise<Principal | null>, now = Date.now(), maxAgeMs = AUTH_CACHE_MS): Promise<Principal | null> {
  const e = cache.entries.get(key);
  if (e && !e.pending && now - e.at < maxAgeMs) return e.principal;
  if (e?.pending) return e.pending;
  const gen = cache.generation;
  const pending = lookup();
  cache.entries.set(key, { principal: null, at: 0, pending });
  try {
    const principal = await pending;
    if (gen === cache.generation) cache.entries.set(key, { principal, at: Date.now() });
    else if (cache.entries.get(key)?.pending === pending) cache.entries.delete(key);
    return principal;
  } catch (err) {
    if (cache.entries.get(key)?.pending === pending) cache.entries.delete(key);
    throw err;
  }
}

/** Forget every cached principal (a token was revoked, a session ended, a password was set). */
export function invalidateAuthCache(): void {
  cache.generation++;
  cache.entries.clear();
}

/** True when the token's lastUsed should be written now (then remembered as written). */
export function shouldWriteLastUsed(tokenId: string, now = Date.now()): boolean {
  const t = cache.lastUsedWritten.get(tokenId);
  if (t !== undefined && now - t < LAST_USED_EVERY_MS) return false;
  cache.lastUsedWritten.set(tokenId, now);
  return true;
}
