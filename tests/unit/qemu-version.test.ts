// The QEMU version probe and what it switches: children map the template RAM read-only from 8.2,
// a QEMU unpacked into its own prefix loads its own firmware, /api/health warns below 8.2.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildArgv, type Role } from '@/lib/engine/argv';
import { launchSpec } from './fixtures';
import { atLeast, parseQemuVersion, qemuBinaryPath, qemuDataDirs, qemuVersion, qemuVersionWarning, resetQemuVersionCache } from '@/lib/engine/qemu-version';

const spec = (role: Role) => launchSpec(role);
const ramObject = (a: string[]) => a[a.findIndex((x, i) => a[i - 1] === '-object' && x.startsWith('memory-backend'))];

afterEach(() => resetQemuVersionCache());

describe('QEMU version probe', () => {
  it('parses Debian and upstream version lines', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright')).toMatchObject({ version: '7.2.22', major: 7, minor: 2 });
    expect(parseQemuVersion('QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)')).toMatchObject({ major: 10, minor: 0, micro: 2 });
    expect(parseQemuVersion('QEMU emulator version 8.2')).toMatchObject({ version: '8.2.0' });
    expect(parseQemuVersion('not qemu')).toBeNull();
    expect(atLeast(parseQemuVersion('version 8.1.5'), 8, 2)).toBe(false);
    expect(atLeast(parseQemuVersion('version 8.2.0'), 8, 2)).toBe(true);
    expect(atLeast(parseQemuVersion('version 10.0.0'), 8, 2)).toBe(true);
  });

  it('probes the real binary once and caches the answer', () => {
    const v = qemuVersion();
    expect(v?.major).toBeGreaterThanOrEqual(7);
    expect(qemuVersion()).toBe(v);
  });

  it('maps the template RAM readonly=on,rom=off in children from QEMU 8.2 only, never in parents', () => {
    resetQemuVersionCache(qemuBinaryPath(), 'QEMU emulator version 10.0.2');
    expect(ramObject(buildArgv(spec('child')))).toMatch(/share=off,readonly=on,rom=off/);
    for (const role of ['parent', 'receiver'] as const) expect(ramObject(buildArgv(spec(role)))).not.toMatch(/readonly/);
    resetQemuVersionCache(qemuBinaryPath(), 'QEMU emulator version 7.2.22 (Debian)');
    expect(ramObject(buildArgv(spec('child')))).toMatch(/share=off,prealloc=off$/);
  });

  it('warns in /api/health below 8.2 with what to do, and not from 8.2', () => {
    expect(qemuVersionWarning(parseQemuVersion('version 7.2.22'))).toMatch(/older than 8\.2.*backports.*INSTACLONE_QEMU/);
    expect(qemuVersionWarning(parseQemuVersion('version 10.0.2'))).toBeNull();
  });

  it('gives a QEMU in its own prefix its own firmware folders (-L), none to the system QEMU', () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-qemu-prefix-'));
    try {
      for (const d of ['usr/bin', 'usr/share/qemu', 'usr/share/seabios']) fs.mkdirSync(path.join(prefix, d), { recursive: true });
      const bin = path.join(prefix, 'usr/bin/qemu-system-x86_64');
      expect(qemuDataDirs(bin)).toEqual([path.join(prefix, 'usr/share/qemu'), path.join(prefix, 'usr/share/seabios')]);
      expect(qemuDataDirs('/usr/bin/qemu-system-x86_64')).toEqual([]);
      expect(qemuDataDirs('qemu-system-x86_64')).toEqual([]);
    } finally {
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('a template frozen by another QEMU release is refused with one sentence; a stable update is not', async () => {
    const { assertTemplateFiles } = await import('@/lib/engine/templates');
    resetQemuVersionCache(qemuBinaryPath(), 'QEMU emulator version 7.2.22');
    const tpl = (v: string) => ({ name: 't', config: JSON.stringify({ qemuVersion: v }), ramPath: '/nonexistent/ram', statePath: '/nonexistent/s', diskPath: '/nonexistent/d', memoryMiB: 256 }) as never;
    expect(() => assertTemplateFiles(tpl('10.0.2'))).toThrow(/frozen by QEMU 10\.0\.2 and this engine runs QEMU 7\.2\.22.*prepare the template again/);
    expect(() => assertTemplateFiles(tpl('7.2.19'))).toThrow(/is damaged/); // past the version check: on to the files
  });
});
