// An agent's block of QEMU uids (config.qemu.uidBlock = its PORT) is its alone on this machine: the
// agent holds an exclusive flock on a host-wide file for its whole life, so a second agent with
// the same block (same PORT on another address, or in another network namespace) is refused at
// start instead of handing the same uids to other VMs. The lock is held by `flock FILE cat` reading
// the agent's pipe: the kernel releases it when the agent exits or is killed, so no lock is ever stale
// (a few seconds' wait covers a killed predecessor whose `cat` has not seen the end of its pipe yet).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../config';
import { qemuUser } from '../engine/argv';
import { uidPool } from '../engine/qemu-uids';

/** Host-wide (not under INSTACLONE_RUN, which is per agent); root-only. */
export const UID_LOCK_DIR = '/run/instaclone/qemu-uid-blocks';

export interface UidBlockLock {
  file: string;
  release(): void;
}

/** Takes this agent's uid block, or throws saying who else has it. Null when QEMU does not run under pool uids (not root). */
export async function claimUidBlock(dir = UID_LOCK_DIR): Promise<UidBlockLock | null> {
  let user = null;
  try {
    user = qemuUser();
  } catch {
    /* QEMU user refused: every launch says why; no uids are handed out meanwhile */
  }
  if (!user) return null;
  const { base, count } = uidPool();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${base}-${base + count - 1}.lock`);
  // `cat` runs only once the lock is held: the byte it echoes back says so (no shell involved)
  const child: ChildProcess = spawn('flock', ['--wait', '3', '--exclusive', file, 'cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdin!.on('error', () => undefined); // flock gave up (lock taken) before reading the byte
  child.stdin!.write('\n');
  const got = await new Promise<boolean>((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`Cannot run flock(1) to hold this agent's QEMU uid block (${e.message}); install util-linux.`)));
    child.stdout!.once('data', () => resolve(true));
    child.once('exit', () => resolve(false));
  });
  if (!got) {
    let owner = '';
    try {
      owner = fs.readFileSync(file, 'utf8').trim();
    } catch {
      /* none written */
    }
    throw new Error(
      `Another agent on this machine already uses QEMU uids ${base}-${base + count - 1} (the block its PORT ${config().port} selects${owner ? `; held by ${owner}` : ''}): give each agent on one machine its own PORT.`,
    );
  }
  fs.writeFileSync(file, `${config().hostName} (pid ${process.pid}, INSTACLONE_RUN ${config().run})\n`, { mode: 0o600 });
  child.stdout!.destroy();
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.(); // the lock must not keep the agent alive
  return {
    file,
    release: () => {
      child.stdin?.end();
      child.kill();
    },
  };
}
