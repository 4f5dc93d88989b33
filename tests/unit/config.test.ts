// lib/config: every variable is read and checked in one place; a bad value is one sentence naming
// the variable, what it must be and what it was; defaults as DESIGN.md and the README say.
import { describe, expect, it } from 'vitest';
import { config, parseEnv } from '@/lib/config';

const bad = (env: Record<string, string>) => {
  try {
    config(env);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('config', () => {
  it('gives the documented defaults with nothing set', () => {
    const c = config({ HOME: '/home/x' });
    expect(c).toMatchObject({ run: '/dev/shm/instaclone', port: 3000, databaseKind: 'sqlite', forkConcurrency: 4, poolRefillConcurrency: 2, bootTimeoutS: 300, serialLogMaxBytes: 8 << 20 });
    expect(c.qemu).toMatchObject({ binary: 'qemu-system-x86_64', img: 'qemu-img', user: 'instaclone-qemu', uidBase: 810_000, uidCount: 4096, accel: undefined, tbSizeMiB: 32 });
    expect(c.net).toMatchObject({ mode: 'user', portRange: [20000, 29999] });
    expect(c.web).toEqual({ trustProxy: false, streamRecheckMs: 10_000, maxStreamsPerUser: 32 });
    expect(c.cli.url).toBe('http://localhost:3000');
  });

  it('reads what is set; an empty value is unset, except where empty means something', () => {
    const c = config({ INSTACLONE_HOME: '/srv/ic', PORT: '3201', INSTACLONE_FORK_CONCURRENCY: '', INSTACLONE_QEMU_USER: '', INSTACLONE_QEMU_DATADIR: '', INSTACLONE_ACCEL: 'tcg', INSTACLONE_PORT_RANGE: '31000-31999', INSTACLONE_TRUST_PROXY: '1', DATABASE_URL: 'postgresql://u@h/db', INSTACLONE_URL: 'http://h:9/' });
    expect(c.databaseUrl).toBe('postgresql://u@h/db');
    expect(c).toMatchObject({ home: '/srv/ic', port: 3201, forkConcurrency: 4, databaseKind: 'postgresql', cli: { url: 'http://h:9' } });
    expect(c.qemu).toMatchObject({ user: '', datadirs: [], accel: 'tcg' });
    expect(c.net.portRange).toEqual([31000, 31999]);
    expect(c.web.trustProxy).toBe(true);
    expect(config({ INSTACLONE_ACCEL: 'auto' }).qemu.accel).toBeUndefined();
  });

  it('says in one sentence what is wrong with a bad value', () => {
    expect(bad({ INSTACLONE_FORK_CONCURRENCY: 'lots' })).toBe('INSTACLONE_FORK_CONCURRENCY must be a whole number from 1 to 64, not "lots".');
    expect(bad({ INSTACLONE_FORK_CONCURRENCY: '0' })).toBe('INSTACLONE_FORK_CONCURRENCY must be a whole number from 1 to 64, not "0".');
    expect(bad({ PORT: '70000' })).toBe('PORT must be a TCP port number (1-65535), not "70000".');
    expect(bad({ INSTACLONE_ACCEL: 'hvf' })).toBe('INSTACLONE_ACCEL must be "kvm", "tcg" or "auto", not "hvf".');
    expect(bad({ INSTACLONE_PORT_RANGE: '2000-1000' })).toBe('INSTACLONE_PORT_RANGE must be a range like 20000-29999 (1024-65535), not "2000-1000".');
    expect(bad({ INSTACLONE_TRUST_PROXY: 'sure' })).toBe('INSTACLONE_TRUST_PROXY must be 1 or 0, not "sure".');
    expect(bad({ INSTACLONE_URL: 'localhost:3000' })).toMatch(/^INSTACLONE_URL must be the console's http\(s\) URL, like http:\/\/localhost:3000, not "localhost:3000"\.$/);
    expect(bad({ INSTACLONE_QEMU_USER: 'root; rm' })).toMatch(/^INSTACLONE_QEMU_USER must be a user name/);
    expect(bad({ INSTACLONE_NET: 'bridge' })).toBe('INSTACLONE_NET=bridge needs INSTACLONE_BRIDGE set to the name of an existing Linux bridge (up to 15 characters).');
    expect(bad({ INSTACLONE_OVMF_CODE: '/x/code.fd' })).toBe('INSTACLONE_OVMF_CODE and INSTACLONE_OVMF_VARS go together: set both, or neither.');
    expect(bad({ DATABASE_URL: 'mysql://x' })).toMatch(/^DATABASE_URL must be a "file:PATH" \(SQLite\) or "postgresql:\/\/…" URL, not "mysql:\/\/x"\.$/);
    expect(bad({ INSTACLONE_TB_SIZE: 'x'.repeat(200) })).toMatch(/not "x{80}…"\.$/); // long values are cut
  });

  it('follows changes to the process environment (tests and the bench set variables at run time)', () => {
    const saved = process.env.INSTACLONE_TB_SIZE;
    try {
      process.env.INSTACLONE_TB_SIZE = '64';
      expect(config().qemu.tbSizeMiB).toBe(64);
      expect(config()).toBe(config()); // unchanged: the same parsed object
      process.env.INSTACLONE_TB_SIZE = '16';
      expect(config().qemu.tbSizeMiB).toBe(16);
    } finally {
      if (saved === undefined) delete process.env.INSTACLONE_TB_SIZE;
      else process.env.INSTACLONE_TB_SIZE = saved;
    }
  });

  it('knows every INSTACLONE_* variable the code reads', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('grep', ['-rnoE', 'process\\.env\\.INSTACLONE_[A-Z0-9_]+', 'lib', 'app', 'bin/cli.ts', 'bin/pool.ts', 'instrumentation.ts'], { encoding: 'utf8' });
    expect(r.status).toBe(1); // grep found nothing: no variable is read ad hoc
    expect(r.stdout).toBe('');
    expect(Object.keys(parseEnv({}))).toEqual([]);
  });
});
