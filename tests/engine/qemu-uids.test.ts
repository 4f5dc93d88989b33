// QEMU uids across engines on one machine: two agents (separate processes, own run dirs) allocating
// at the same moment never hand one uid to two VMs (each takes the block its PORT selects), while
// two engines on the same block would; a second agent on the same block is refused at start by the
// host-wide flock, and the block is free again once its holder lets go. Needs root (lchown).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { need, when } from '../strict';

const root = process.getuid?.() === 0;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-uids-'));
fs.chmodSync(base, 0o711);
const repo = path.resolve(import.meta.dirname, '../..');
const UID_BASE = 1_600_000;
const COUNT = 4096;

/** Runs the allocation fixture as its own process; resolves with the uids it gave out. */
function allocate(name: string, env: Record<string, string>, startAt: number): Promise<number[]> {
  const run = path.join(base, name);
  const p = spawn(process.execPath, ['--import', path.join(repo, 'node_modules/tsx/dist/esm/index.mjs'), path.join(repo, 'tests/engine/fixtures/uid-alloc.ts')], {
    cwd: repo,
    env: { ...process.env, INSTACLONE_RUN: run, INSTACLONE_HOME: path.join(base, `${name}-home`), INSTACLONE_QEMU_UID_BASE: String(UID_BASE), INSTACLONE_QEMU_UID_COUNT: String(COUNT), COUNT: '12', START_AT: String(startAt), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`uid-alloc ${name} exited ${code}: ${err}`)))));
}

const agentEnv = (port: number) => ({ INSTACLONE_AGENT: '1', DATABASE_URL: 'postgresql://unused/x', PORT: String(port), INSTACLONE_HOST_NAME: `u${port}` });

afterAll(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

describe.runIf(when(root))('QEMU uids across agents on one machine', () => {
  it('two agents allocating at once get disjoint uids from their own blocks; two engines on one block would collide', async () => {
    need(root, 'run as root (QEMU uids are given by lchown)');
    const at = Date.now() + 4000; // both processes are up by then (tsx start under load)
    const [a, b, c, d] = await Promise.all([
      allocate('a', agentEnv(3391), at),
      allocate('b', agentEnv(3392), at),
      allocate('c', {}, at + 1500), // two non-agent engines: the same block 0, each seeing only its own run dirs
      allocate('d', {}, at + 1500),
    ]);
    expect(new Set([...a, ...b]).size).toBe(a.length + b.length);
    for (const u of a) expect(u >= UID_BASE + 3391 * COUNT && u < UID_BASE + 3392 * COUNT, `${u} in a's block`).toBe(true);
    for (const u of b) expect(u >= UID_BASE + 3392 * COUNT && u < UID_BASE + 3393 * COUNT, `${u} in b's block`).toBe(true);
    // what the blocks prevent: without them both engines pick the same free uids
    expect(c.filter((u) => d.includes(u)).length).toBeGreaterThan(0);
  }, 120_000);

  it('a second agent on the same block is refused at start; the block frees when its holder lets go', async () => {
    need(root, 'run as root (the host-wide lock dir is root-only)');
    const keep = { ...process.env };
    Object.assign(process.env, agentEnv(3393), { INSTACLONE_RUN: path.join(base, 'e'), INSTACLONE_QEMU_UID_BASE: String(UID_BASE), INSTACLONE_QEMU_UID_COUNT: String(COUNT) });
    const dir = path.join(base, 'locks');
    const { claimUidBlock } = await import('../../lib/cluster/uid-block');
    try {
      const first = await claimUidBlock(dir);
      expect(first?.file).toBe(path.join(dir, `${UID_BASE + 3393 * COUNT}-${UID_BASE + 3394 * COUNT - 1}.lock`));
      await expect(claimUidBlock(dir)).rejects.toThrow(/Another agent on this machine already uses QEMU uids \d+-\d+ \(the block its PORT 3393 selects; held by u3393 .*give each agent on one machine its own PORT/);
      first!.release();
      let again = null;
      for (let i = 0; i < 50 && !again; i++) again = await claimUidBlock(dir).catch(() => new Promise<null>((r) => setTimeout(() => r(null), 100)));
      expect(again).toBeTruthy();
      again!.release();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in keep)) delete process.env[k];
      Object.assign(process.env, keep);
    }
  });
});
