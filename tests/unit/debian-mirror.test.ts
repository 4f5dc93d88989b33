// The Debian mirror is an input of image builds (lib/guest/debian-mirror.sh): INSTACLONE_DEBIAN_MIRROR,
// else the host's apt sources; no mirror's host name is written in the code.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const mirror = (env: Record<string, string>) =>
  spawnSync('bash', ['-c', 'source lib/guest/debian-mirror.sh; debian_mirror || { echo "$DEBIAN_MIRROR_MISSING"; exit 3; }'], { cwd: root, encoding: 'utf8', env: { ...process.env, INSTACLONE_DEBIAN_MIRROR: '', ...env } });

describe('debian mirror', () => {
  it('takes INSTACLONE_DEBIAN_MIRROR first', () => {
    const r = mirror({ INSTACLONE_DEBIAN_MIRROR: 'http://mirror.example/debian' });
    expect(r.stdout.trim()).toBe('http://mirror.example/debian');
  });

  it('else reads the host apt sources (or says what to set)', () => {
    const r = mirror({});
    if (r.status === 3) expect(r.stdout.trim()).toBe('No Debian mirror found in /etc/apt/sources.list*: set INSTACLONE_DEBIAN_MIRROR to one (a URL ending in /debian).');
    else expect(r.stdout.trim()).toMatch(/^(https?|file):\/\/\S+\/debian$/);
  });

  it('no package mirror host name is written in the code', () => {
    const r = spawnSync('grep', ['-rnE', 'deb\\.debian\\.org|ftp\\.[a-z]+\\.debian\\.org|archive\\.ubuntu', 'lib', 'scripts', 'bin/cli.ts', 'app', 'tests/fixtures', '--include=*.sh', '--include=*.ts'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout).toBe('');
  });
});
