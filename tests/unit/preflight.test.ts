// Start-up refuses to run on a broken host with one sentence that says what to do.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preflight } from '@/lib/preflight';

const temps: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-preflight-'));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) {
    try {
      execFileSync('umount', [d], { timeout: 60_000, stdio: 'ignore' });
    } catch {
      /* not a mount */
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

const env = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const home = tmp();
  return { ...process.env, INSTACLONE_HOME: home, INSTACLONE_RUN: path.join(home, 'run'), DATABASE_URL: `file:${home}/db.sqlite`, ...extra };
};

/** A port nothing listens on: bind, note it, close. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('preflight', () => {
  it('passes on this host and creates the database', async () => {
    const e = env({});
    await preflight(e);
    expect(fs.existsSync(`${e.INSTACLONE_HOME}/db.sqlite`)).toBe(true);
  });

  it('says QEMU is missing and how to install it', async () => {
    const e = env({ INSTACLONE_QEMU: 'qemu-system-does-not-exist' });
    const saved = process.env.INSTACLONE_QEMU;
    process.env.INSTACLONE_QEMU = e.INSTACLONE_QEMU;
    try {
      await expect(preflight(e)).rejects.toThrow(/QEMU is not installed.*apt-get install qemu-system-x86/);
    } finally {
      if (saved === undefined) delete process.env.INSTACLONE_QEMU;
      else process.env.INSTACLONE_QEMU = saved;
    }
  });

  it('says INSTACLONE_HOME is not writable', async () => {
    const ro = tmp();
    if (process.getuid?.() === 0) {
      // root ignores permission bits: a read-only mount is the honest test
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { timeout: 60_000 });
    } else {
      fs.chmodSync(ro, 0o555);
    }
    const e = { ...env({}), INSTACLONE_HOME: ro, DATABASE_URL: `file:${ro}/db.sqlite` };
    await expect(preflight(e)).rejects.toThrow(/INSTACLONE_HOME \(.*\) is not writable/);
  });

  it('says the PostgreSQL server cannot be reached', async () => {
    const port = await closedPort();
    const e = env({ DATABASE_URL: `postgresql://instaclone:secret@127.0.0.1:${port}/instaclone` });
    const err = await preflight(e).catch((x: Error) => x);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/Cannot reach the PostgreSQL server/);
    expect((err as Error).message).not.toContain('secret');
  });
});
