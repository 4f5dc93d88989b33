// INSTACLONE_RUN usually sits in a world-writable directory (/dev/shm): whoever creates it first owns
// it. Create it exclusively, and refuse one that someone else made, that is a symlink, or that other
// users can reach into (they could plant symlinks where the engine writes, or read template RAM).
import fs from 'node:fs';
import path from 'node:path';

/** Why `dir` (as lstat sees it) is not ours alone, or null when it is. */
export function runDirProblem(st: fs.Stats, uid: number): string | null {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (!st.isDirectory()) return 'not a directory';
  if (st.uid !== uid) return `owned by uid ${st.uid}, not by this user (uid ${uid})`;
  // 0700, or 0710 once the QEMU user's group may traverse it (vmm.ts shareRunDirWithQemu)
  if ((st.mode & 0o767) !== 0o700) return `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, not 0700`;
  return null;
}

/**
 * Makes sure `dir` is a real directory owned by this user that nobody else can write or list:
 * creates it with an exclusive mkdir (mode 0700) or checks the one that exists. Throws one sentence.
 */
export function ensureRunDir(dir: string, what = 'INSTACLONE_RUN'): string {
  const uid = process.geteuid?.() ?? 0;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  try {
    fs.mkdirSync(dir, { mode: 0o700 }); // no `recursive`: EEXIST tells us someone was first
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const problem = runDirProblem(fs.lstatSync(dir), uid);
  if (problem) {
    throw new Error(
      `${what} (${dir}) is ${problem}, so another user could tamper with VM sockets and RAM files there: remove it (or point ${what} at a new folder) and start again.`,
    );
  }
  return dir;
}
