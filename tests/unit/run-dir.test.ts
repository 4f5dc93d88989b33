// INSTACLONE_RUN sits in world-writable /dev/shm: a local user who creates it first must not win.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureRunDir } from '@/lib/engine/run-dir';
import { preflight } from '@/lib/preflight';
import { need, when } from '../strict';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-rundir-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(base, `run${n++}`);
const isRoot = process.geteuid?.() === 0;

describe('the run directory', () => {
  it('is created exclusively with mode 0700 and accepted again when it is ours', () => {
    const d = fresh();
    ensureRunDir(d);
    const st = fs.lstatSync(d);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(process.geteuid!());
    expect(() => ensureRunDir(d)).not.toThrow();
    fs.chmodSync(d, 0o710); // what vmm.ts gives the QEMU user's group
    expect(() => ensureRunDir(d)).not.toThrow();
  });

  it('is refused when someone made it world-writable first', () => {
    const d = fresh();
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o777);
    expect(() => ensureRunDir(d)).toThrow(/^INSTACLONE_RUN \(.*\) is mode 0777, not 0700, .*remove it \(or point INSTACLONE_RUN at a new folder\)/);
  });

  it('is refused when it is a symlink, even to a good directory', () => {
    const target = fresh();
    fs.mkdirSync(target, { mode: 0o700 });
    const d = fresh();
    fs.symlinkSync(target, d);
    expect(() => ensureRunDir(d)).toThrow(/is a symbolic link/);
  });

  it.runIf(when(isRoot))('is refused when another user owns it', () => {
    need(isRoot, 'changing a directory\'s owner needs root');
    const d = fresh();
    fs.mkdirSync(d, { mode: 0o700 });
    fs.chownSync(d, 65534, 65534);
    expect(() => ensureRunDir(d)).toThrow(/owned by uid 65534, not by this user/);
  });

  it('stops the start-up (preflight) with that sentence', async () => {
    const home = fresh();
    fs.mkdirSync(home);
    const run = fresh();
    fs.mkdirSync(run);
    fs.chmodSync(run, 0o777);
    const env = { ...process.env, INSTACLONE_HOME: home, INSTACLONE_RUN: run, DATABASE_URL: `file:${home}/db.sqlite` };
    await expect(preflight(env)).rejects.toThrow(/INSTACLONE_RUN .* is mode 0777/);
    expect(fs.readdirSync(run)).toEqual([]); // nothing written into it
  });
});
