// Console log-ins: scrypt-hashed passwords (passwords.ts), cookie sessions that expire, and the first admin's setup link.
import crypto from 'node:crypto';
import { DUMMY_HASH, hashPassword, isLegacyHash, verifyPassword } from './passwords';
import { db } from '../db';
import { EngineError } from '../engine/errors';
import { type Role, isRole } from './roles';
import { endStreamsOfSession } from './streams';
import { hashToken, type Principal } from './tokens';
import { cachedPrincipal, invalidateAuthCache } from './cache';

export const SESSION_COOKIE = 'ic_session';
/** the same over HTTPS: `__Host-` makes the browser insist on Secure, path=/ and no Domain */
export const SECURE_SESSION_COOKIE = '__Host-ic_session';

/** The session id from whichever of the two cookies the browser sent. */
export const sessionIdFrom = (get: (name: string) => string | undefined) => get(SECURE_SESSION_COOKIE) ?? get(SESSION_COOKIE);
export const SESSION_HOURS = 12;

export async function createUser(username: string, password: string | null, role: Role) {
  if (!/^[a-z0-9][a-z0-9._-]{0,31}$/.test(username)) {
    throw new EngineError('invalid', 'A user name has 1-32 lower-case letters, digits, ".", "_" or "-".');
  }
  if (!isRole(role)) throw new EngineError('invalid', 'A role is one of viewer, operator, admin.');
  if (password !== null && password.length < 8) throw new EngineError('invalid', 'A password has at least 8 characters.');
  if (await db().user.findUnique({ where: { username } })) {
    throw new EngineError('conflict', `The user "${username}" exists already: choose another name.`);
  }
  return db().user.create({
    data: {
      id: crypto.randomUUID(),
      username,
      role,
      passwordHash: password === null ? null : await hashPassword(password),
    },
  });
}

/** `tokenId`: the API token a token-login exchanged for this session (revoking the token ends it). */
export async function startSession(name: string, role: Role, userId?: string, tokenId?: string) {
  const id = crypto.randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + SESSION_HOURS * 3600_000);
  await db().session.create({ data: { id: hashToken(id), userId, name, role, expiresAt, tokenId } });
  return { id, expiresAt };
}

export async function login(username: string, password: string) {
  const user = await db().user.findUnique({ where: { username } });
  // Compare against a dummy hash when the user is unknown, so timing does not reveal user names.
  const hash = user?.passwordHash ?? DUMMY_HASH;
  const ok = await verifyPassword(password, hash);
  if (!user || !user.passwordHash || !ok) throw new EngineError('unauthorized', 'Wrong user name or password.');
  if (isLegacyHash(user.passwordHash)) {
    await db().user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(password) } }).catch(() => undefined);
  }
  return startSession(user.username, user.role as Role, user.id);
}

/** Looked up at most every AUTH_CACHE_MS per session (lib/auth/cache.ts); expiry checked on every call. */
export async function principalForSession(id: string, opts: { fresh?: boolean } = {}): Promise<Principal | null> {
  const hash = hashToken(id);
  const found = await cachedPrincipal(`s:${hash}`, async () => {
    const row = await db().session.findUnique({ where: { id: hash } });
    if (!row || row.expiresAt < new Date() || !isRole(row.role)) return null;
    if (row.tokenId) {
      // revokeToken deletes these sessions; this also closes the gap of a log-in racing the revocation.
      const token = await db().apiToken.findUnique({ where: { id: row.tokenId } });
      if (!token || token.revokedAt) return null;
    }
    return { kind: 'session', name: row.name, role: row.role, expiresAt: row.expiresAt.getTime() };
  }, Date.now(), opts.fresh ? 0 : undefined);
  if (!found || (found.expiresAt !== undefined && found.expiresAt < Date.now())) return null;
  const { expiresAt: _e, ...principal } = found;
  return principal;
}

export async function endSession(id: string) {
  await db().session.deleteMany({ where: { id: hashToken(id) } });
  endStreamsOfSession(hashToken(id));
  invalidateAuthCache();
}

export const SETUP_HOURS = 24;

/**
 * First start: when no user exists, create "admin" without a password; while that admin has none,
 * every start issues a fresh one-time setup secret (the previous one stops working) that expires
 * after SETUP_HOURS. The expiry is part of the hashed secret, so it cannot be edited.
 */
export async function ensureFirstAdmin(now = Date.now()): Promise<string | null> {
  const secret = `${now + SETUP_HOURS * 3600_000}.${crypto.randomBytes(24).toString('base64url')}`;
  if ((await db().user.count()) === 0) {
    await db().user.create({ data: { id: crypto.randomUUID(), username: 'admin', role: 'admin', setupTokenHash: hashToken(secret) } });
    return secret;
  }
  const pending = await db().user.updateMany({ where: { username: 'admin', passwordHash: null, NOT: { setupTokenHash: null } }, data: { setupTokenHash: hashToken(secret) } });
  return pending.count === 1 ? secret : null;
}

const setupUnusable = 'This setup link was used already, is wrong or has expired: restart the console to print a new one.';

export async function completeSetup(secret: string, password: string, now = Date.now()) {
  const expires = Number(/^(\d+)\./.exec(secret)?.[1]);
  if (!(expires > now)) throw new EngineError('unauthorized', setupUnusable);
  const user = await db().user.findUnique({ where: { setupTokenHash: hashToken(secret) } });
  if (!user) throw new EngineError('unauthorized', setupUnusable);
  if (password.length < 8) throw new EngineError('invalid', 'A password has at least 8 characters.');
  invalidateAuthCache();
  const passwordHash = await hashPassword(password);
  // the claim is one conditional update: of two requests with the same secret, only one matches
  const claimed = await db().user.updateMany({ where: { id: user.id, setupTokenHash: user.setupTokenHash }, data: { passwordHash, setupTokenHash: null } });
  if (claimed.count !== 1) throw new EngineError('unauthorized', setupUnusable);
  return startSession(user.username, user.role as Role, user.id);
}
