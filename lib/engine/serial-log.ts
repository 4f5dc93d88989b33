// A VM's serial log is written by QEMU (logfile=…,logappend=on) and the guest decides how much: a
// flooding guest would fill INSTACLONE_HOME. Past the cap, the log is copied to serial.log.1 and
// cut (copy-truncate: QEMU keeps its O_APPEND descriptor and goes on at the new end), and a line
// says so, which the console's serial stream shows.
import fs from 'node:fs';
import { config } from '../config';

export const serialLogMax = () => config().serialLogMaxBytes;

/** Cuts `file` when it is larger than `max`; true when it did. */
export function capSerialLog(file: string, max = serialLogMax()): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size <= max) return false;
  const old = `${file}.1`;
  fs.rmSync(old, { force: true });
  fs.copyFileSync(file, old, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(old, 0o600);
  const { O_WRONLY, O_APPEND, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW);
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `\r\n[instaclone: serial log cut at ${new Date().toISOString()}: it passed ${Math.round(max / 1048576)} MiB; the part before is in serial.log.1]\r\n`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}
