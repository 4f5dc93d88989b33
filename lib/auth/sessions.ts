// Console log-ins: bcrypt-hashed passwords, cookie sessions that expire, and the first admin's setup link.
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import { db } from '../db';
import { EngineError } from '../engine/errors';
import { type Role, isRole } from './roles';
import { hashToken, type Principal } from './tokens';
import { cachedPrincipal, invalidateAuthCache } from './cache';

export const SESSION_COOKIE = 'ic_session';
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
      passwordHash: password === null ? null : await bcrypt.hash(password, 10),
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
  const hash = user?.passwordHash ?? '$2b$10$CwTycUXWue0Thq9StjUM0uJ8Sx.Ai1a0pzdE.m4q1vAQKfpCmqE9S';
  const ok = await bcrypt.compare(password, hash);
  if (!user || !user.passwordHash || !ok) throw new EngineError('unauthorized', 'Wrong user name or password.');
  return startSession(user.username, user.role as Role, user.id);
}

/** Looked up at most every AUTH_CACHE_MS per session (lib/auth/cache.ts); expiry checked on every call. */
export async function principalForSession(id: string): Promise<Principal | null> {
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
  });
  if (!found || (found.expiresAt !== undefined && found.expiresAt < Date.now())) return null;
  const { expiresAt: _e, ...principal } = found;
  return principal;
}

export async function endSession(id: string) {
  await db().session.deleteMany({ where: { id: hashToken(id) } });
  invalidateAuthCache();
}

/**
 * First start: when no user exists, create "admin" without a password and return a one-time setup
 * secret; the console prints the link on its own console.
 */
export async function ensureFirstAdmin(): Promise<string | null> {
  if ((await db().user.count()) > 0) return null;
  const secret = crypto.randomBytes(24).toString('base64url');
  await db().user.create({
    data: { id: crypto.randomUUID(), username: 'admin', role: 'admin', setupTokenHash: hashToken(secret) },
  });
  return secret;
}

export async function completeSetup(secret: string, password: string) {
  const user = await db().user.findUnique({ where: { setupTokenHash: hashToken(secret) } });
  if (!user) throw new EngineError('unauthorized', 'This setup link was used already or is wrong: ask an admin for a new one.');
  if (password.length < 8) throw new EngineError('invalid', 'A password has at least 8 characters.');
  invalidateAuthCache();
  await db().user.update({
    where: { id: user.id },
    data: { passwordHash: await bcrypt.hash(password, 10), setupTokenHash: null },
  });
  return startSession(user.username, user.role as Role, user.id);
}
