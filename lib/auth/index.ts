// Who is asking: a Bearer token (CLI, automation), a session cookie (console), or nobody.
import { EngineError } from '../engine/errors';
import { type Role, allows } from './roles';
import { principalForSession, SESSION_COOKIE } from './sessions';
import { principalForToken, type Principal } from './tokens';

export type { Principal } from './tokens';
export type { Role } from './roles';

/** `fresh`: skip the short-lived cache (long-lived streams re-check against the database itself). */
export async function principalFrom(headers: Headers, cookie?: string, opts: { fresh?: boolean } = {}): Promise<Principal | null> {
  const auth = headers.get('authorization');
  if (auth?.startsWith('Bearer ')) return principalForToken(auth.slice(7).trim(), opts);
  if (cookie) return principalForSession(cookie, opts);
  return null;
}

export function require(principal: Principal | null, needed: Role): Principal {
  if (!principal) throw new EngineError('unauthorized', 'Log in first, or pass an API token (Authorization: Bearer …).');
  if (!allows(principal.role, needed)) {
    throw new EngineError('forbidden', `This needs the ${needed} role; ${principal.name} is ${principal.role}.`);
  }
  return principal;
}

export { SESSION_COOKIE };
