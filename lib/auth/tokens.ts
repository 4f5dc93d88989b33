// API tokens: random secrets shown once, stored only as SHA-256 hashes, scoped by role, revocable.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { db } from '../db';
import { EngineError } from '../engine/errors';
import { type Role, isRole } from './roles';
import { cachedPrincipal, invalidateAuthCache, shouldWriteLastUsed } from './cache';

export const hashToken = (secret: string) => crypto.createHash('sha256').update(secret).digest('hex');

export interface Principal {
  kind: 'token' | 'session' | 'local';
  name: string;
  role: Role;
  /** the API token's id (kind "token") */
  tokenId?: string;
  /** a session's expiry (ms since the epoch), kept with a cached session; not part of what callers see */
  expiresAt?: number;
}

export async function createToken(name: string, role: Role, createdBy?: string) {
  if (!isRole(role)) throw new EngineError('invalid', 'A token role is one of viewer, operator, admin.');
  const secret = `ic_${crypto.randomBytes(24).toString('base64url')}`;
  const row = await db().apiToken.create({
    data: { id: crypto.randomUUID(), name, role, hash: hashToken(secret), createdBy },
  });
  return { id: row.id, name, role, secret };
}

export async function revokeToken(id: string) {
  const row = await db().apiToken.findUnique({ where: { id } });
  if (!row) throw new EngineError('not_found', `No token with id ${id}.`);
  await db().apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
  invalidateAuthCache();
  // Console sessions exchanged for this token (kiosk wall screens) end with it, not when they expire.
  await db().session.deleteMany({ where: { tokenId: id } });
  return { id, name: row.name };
}

export async function listTokens() {
  const rows = await db().apiToken.findMany({ orderBy: { createdAt: 'desc' } });
  return rows.map(({ hash: _hash, ...t }) => t);
}

/** Looked up at most every AUTH_CACHE_MS per token (lib/auth/cache.ts); lastUsed written at most once a minute. */
export async function principalForToken(secret: string, opts: { fresh?: boolean } = {}): Promise<Principal | null> {
  const hash = hashToken(secret);
  const p = await cachedPrincipal(`t:${hash}`, async () => {
    const row = await db().apiToken.findUnique({ where: { hash } });
    if (!row || row.revokedAt || !isRole(row.role)) return null;
    return { kind: 'token', name: `token:${row.name}`, role: row.role, tokenId: row.id } satisfies Principal;
  }, Date.now(), opts.fresh ? 0 : undefined);
  if (p?.tokenId && shouldWriteLastUsed(p.tokenId)) {
    // Best effort: last-use bookkeeping must never fail a request.
    db()
      .apiToken.update({ where: { id: p.tokenId }, data: { lastUsed: new Date() } })
      .catch(() => {});
  }
  return p;
}

/**
 * The local admin token (DESIGN.md): kept in INSTACLONE_HOME/admin.token, mode 0600, so the CLI on the
 * console's own host works without configuration. Created on first start.
 */
export async function ensureAdminToken(): Promise<string> {
  const file = path.join(config().home, 'admin.token');
  try {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (secret && (await db().apiToken.findUnique({ where: { hash: hashToken(secret) } }))) return secret;
  } catch {
    /* created below */
  }
  const { secret } = await createToken('local-admin', 'admin', 'system');
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return secret;
}
