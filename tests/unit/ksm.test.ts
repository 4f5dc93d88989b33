// INSTACLONE_KSM: the setting, starting ksmd on a (fake) sysfs, what /api/health says, and the
// prctl wrapper QEMU is started through, checked on this kernel with a real exec.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { config } from '@/lib/config';
import { applyKsm, guestRamMergeable, ksmStatus, qemuCommand, qemuThp, readKsm, wholeProcessSupport } from '@/lib/engine/ksm';

const dirs: string[] = [];
/** a fake /sys/kernel/mm/ksm */
function sysfs(run = '0', extra: Record<string, string> = {}): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-ksm-'));
  dirs.push(d);
  const files = { run, pages_sharing: '2560', pages_to_scan: '100', sleep_millisecs: '20', advisor_mode: '[none] scan-time', ...extra };
  for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(d, k), `${v}\n`);
  return d;
}
const before = process.env.INSTACLONE_KSM;
afterEach(() => {
  if (before === undefined) delete process.env.INSTACLONE_KSM;
  else process.env.INSTACLONE_KSM = before;
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('INSTACLONE_KSM', () => {
  it('is auto by default, takes off|on|auto and refuses anything else with one sentence', () => {
    expect(config({}).ksm).toBe('auto');
    expect(config({ INSTACLONE_KSM: 'on' }).ksm).toBe('on');
    expect(config({ INSTACLONE_KSM: '' }).ksm).toBe('auto');
    expect(() => config({ INSTACLONE_KSM: 'yes' })).toThrow('INSTACLONE_KSM must be "off", "on" or "auto" (Kernel Same-page Merging of the VMs\' memory), not "yes".');
  });

  it('off opts guest RAM out of merging (merge=off on the memory backend); on and auto keep QEMU\'s default', async () => {
    const { buildArgv } = await import('@/lib/engine/argv');
    const { launchSpec } = await import('./fixtures');
    const backend = () => buildArgv(launchSpec('child')).find((a) => a.startsWith('memory-backend'))!;
    process.env.INSTACLONE_KSM = 'off';
    expect(guestRamMergeable()).toBe(false);
    expect(backend()).toMatch(/,merge=off/);
    process.env.INSTACLONE_KSM = 'on';
    expect(backend()).not.toMatch(/merge=/);
  });
});

describe('ksmd at engine start', () => {
  it('on starts a stopped ksmd at the host\'s scan settings (as root); auto and off never touch it', () => {
    const d = sysfs('0');
    expect(applyKsm('auto', d)).toBeUndefined();
    expect(applyKsm('off', d)).toBeUndefined();
    expect(readKsm(d)!.run).toBe(0);
    const err = applyKsm('on', d);
    if (process.getuid!() === 0) {
      expect(err).toBeUndefined();
      expect(readKsm(d)).toMatchObject({ run: 1, pagesToScan: 100, sleepMs: 20, advisor: 'none' });
    } else {
      expect(err).toMatch(/not root/);
      expect(readKsm(d)!.run).toBe(0);
    }
  });

  it('says why when the kernel has no KSM or its sysfs cannot be written, and never throws', () => {
    const missing = path.join(os.tmpdir(), 'ic-ksm-none-' + process.pid);
    expect(applyKsm('on', missing)).toMatch(/^INSTACLONE_KSM=on, but this kernel has no KSM \(.* is missing\)/);
    expect(ksmStatus('on', missing)).toMatchObject({ running: false, savedBytes: 0, reason: expect.stringMatching(/no KSM/) });
    if (process.getuid!() === 0) {
      // a run file that cannot be written, root or not (a read-only sysfs in a container)
      const d = sysfs('0', { advisor_mode: '' });
      fs.rmSync(path.join(d, 'run'));
      fs.symlinkSync('/proc/version', path.join(d, 'run'));
      expect(applyKsm('on', d)).toMatch(/^INSTACLONE_KSM=on, but .* cannot be written here \(E[A-Z]+\): start ksmd on the host/);
      expect(ksmStatus('on', d).reason).toMatch(/cannot be written/);
      applyKsm('auto', d); // forgets the failure
      expect(ksmStatus('on', d).reason).not.toMatch(/cannot be written/);
    }
  });

  it('health: what it saves (pages_sharing × page size), the settings and why not', () => {
    const d = sysfs('1');
    const page = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim());
    const on = ksmStatus('on', d);
    expect(on).toMatchObject({ mode: 'on', running: true, savedBytes: 2560 * page, settings: { pagesToScan: 100, sleepMs: 20, advisor: 'none' } });
    expect(on.wholeProcess).toBe(wholeProcessSupport().ok);
    expect(ksmStatus('off', d)).toMatchObject({ running: true, wholeProcess: false, reason: expect.stringMatching(/^INSTACLONE_KSM=off: VMs opt out .*other processes/) });
    expect(ksmStatus('auto', sysfs('0'))).toMatchObject({ running: false, wholeProcess: false, reason: expect.stringMatching(/stopped.*=on starts it/) });
  });
});

describe('QEMU wholly mergeable through prctl', () => {
  it('the wrapped command runs the program with ksm_merge_any set, on this kernel (≥ 6.7)', () => {
    const support = wholeProcessSupport();
    const major = Number(os.release().split('.')[0]);
    const minor = Number(os.release().split('.')[1]);
    if (!(major > 6 || (major === 6 && minor >= 7)) || !fs.existsSync('/proc/self/ksm_stat')) {
      expect(support.ok).toBe(false);
      return;
    }
    expect(support).toEqual({ ok: true });
    process.env.INSTACLONE_KSM = 'on';
    // a PERL5OPT in the engine's environment would run code in that perl: it is dropped
    const { cmd, args, env } = qemuCommand('/bin/sh', ['-c', 'cat /proc/self/ksm_stat; echo "opt=$PERL5OPT"'], { PATH: process.env.PATH, PERL5OPT: '-e die("injected")', KEEP: '1' });
    expect(cmd).toBe('/usr/bin/perl');
    expect(env).toEqual({ PATH: process.env.PATH, KEEP: '1' });
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: env as unknown as NodeJS.ProcessEnv });
    expect(r.stdout).toMatch(/ksm_merge_any: yes/);
    expect(r.stdout).toMatch(/^opt=$/m);
    process.env.INSTACLONE_KSM = 'off';
    expect(qemuCommand('/bin/cat', ['x'], { A: '1' })).toEqual({ cmd: '/bin/cat', args: ['x'], env: { A: '1' } });
  });

  it('INSTACLONE_QEMU_THP=off (auto under TCG) starts QEMU without transparent huge pages (prctl kept across exec)', () => {
    process.env.INSTACLONE_KSM = 'off';
    process.env.INSTACLONE_QEMU_THP = 'off';
    try {
      const { cmd, args } = qemuCommand('/bin/sh', ['-c', 'grep THP_enabled /proc/self/status; grep merge_any /proc/self/ksm_stat']);
      expect(cmd).toBe('/usr/bin/perl');
      const out = spawnSync(cmd, args, { encoding: 'utf8' }).stdout;
      expect(out).toMatch(/THP_enabled:\s+0/);
      expect(out).not.toMatch(/ksm_merge_any: yes/);
      process.env.INSTACLONE_QEMU_THP = 'on';
      expect(qemuCommand('/bin/true', ['-accel', 'tcg,tb-size=32']).cmd).toBe('/bin/true');
      // auto (the default): off under TCG, on under KVM
      delete process.env.INSTACLONE_QEMU_THP;
      expect(config({}).qemu.thp).toBe('auto');
      expect(qemuThp(['-accel', 'tcg,tb-size=32'])).toBe(false);
      expect(qemuThp(['-accel', 'kvm'])).toBe(true);
      expect(qemuCommand('/bin/true', ['-accel', 'kvm']).cmd).toBe('/bin/true');
      expect(qemuCommand('/bin/true', ['-accel', 'tcg']).cmd).toBe('/usr/bin/perl');
      expect(() => config({ INSTACLONE_QEMU_THP: 'never' })).toThrow(/^INSTACLONE_QEMU_THP must be "auto", "on" or "off"/);
    } finally {
      delete process.env.INSTACLONE_QEMU_THP;
    }
  });
});
