// Password hashes with Node's scrypt, which runs on libuv's thread pool: hashing and checking a
// password never stalls the event loop that also drives the engine (bcryptjs, used before, is
// JavaScript on the main thread: a flood of log-ins held it for ~0.7 s at a time on a loaded host).
// Hashes made by bcrypt ($2…) still verify, and are replaced by scrypt ones at the next log-in.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1 };
const KEYLEN = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { ...PARAMS, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches `stored`; false for anything malformed. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('$2')) return bcrypt.compare(password, stored);
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N > 1 << 20 || r > 32 || p > 16) return false; // a stored hash must not make us burn minutes
  const want = Buffer.from(m[5], 'base64');
  const got = await scrypt(password, Buffer.from(m[4], 'base64'), want.length, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

export const isLegacyHash = (stored: string) => stored.startsWith('$2');

/** Checked when the user is unknown, so that timing does not tell which user names exist. */
export const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
