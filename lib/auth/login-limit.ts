// Failed log-ins are counted per user name and per client address in a sliding window; past the
// limit further attempts are refused before the password is checked (no guessing, no CPU burnt on a flood).
// In memory on purpose: one console process, and a restart only forgives what it forgets.
import { config } from '../config';
const WINDOW_MS = 15 * 60_000;
export const LOGIN_LIMITS = { perUser: 10, perAddress: 30 };

const failures = new Map<string, number[]>();

function recent(key: string, now: number): number[] {
  const list = (failures.get(key) ?? []).filter((t) => now - t < WINDOW_MS);
  if (list.length) failures.set(key, list);
  else failures.delete(key);
  return list;
}

/** The one sentence refusing this attempt, or null when it may go ahead. */
export function loginRefusal(username: string, address: string, now = Date.now()): string | null {
  const u = recent(`u:${username}`, now);
  const a = recent(`a:${address}`, now);
  if (u.length < LOGIN_LIMITS.perUser && a.length < LOGIN_LIMITS.perAddress) return null;
  const oldest = Math.min(...(u.length >= LOGIN_LIMITS.perUser ? u : a));
  const minutes = Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 60_000));
  return `Too many failed log-ins ${u.length >= LOGIN_LIMITS.perUser ? `for "${username}"` : 'from this address'}: wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`;
}

export function noteLoginFailure(username: string, address: string, now = Date.now()): void {
  for (const key of [`u:${username}`, `a:${address}`]) failures.set(key, [...recent(key, now), now]);
}

export function clearLoginFailures(username: string): void {
  failures.delete(`u:${username}`);
}

/**
 * The client's address for rate limiting. Route handlers do not see the socket; X-Forwarded-For is
 * only believed behind a proxy the operator names (INSTACLONE_TRUST_PROXY=1), otherwise it could be forged.
 */
export function clientAddress(headers: Headers): string {
  if (config().web.trustProxy) {
    const first = headers.get('x-forwarded-for')?.split(',')[0]?.trim();
    if (first) return first;
  }
  return 'direct';
}
