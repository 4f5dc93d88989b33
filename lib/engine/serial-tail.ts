// Follows a VM's serial log (the file QEMU writes with logfile=): first its last TAIL_BYTES, then
// whatever is appended. A log that is rotated (a new inode) or truncated starts over, with `reset`.
import fs from 'node:fs';
import type { SerialChunk } from './events';

const TAIL_BYTES = 64 * 1024;
const POLL_MS = 250;

/** Calls `send` with each chunk until the returned function is called. The log may not exist yet. */
export function tailSerialLog(logFile: string, send: (c: SerialChunk) => void): () => void {
  let offset = -1; // < 0: not placed yet (QEMU creates the log when it starts)
  let ino = -1;
  let decoder = new TextDecoder();
  let reading = false;
  let stopped = false;
  const restart = () => {
    offset = 0;
    decoder = new TextDecoder();
    send({ reset: true });
  };
  const poll = () => {
    if (reading || stopped) return;
    reading = true;
    let fd: number | null = null;
    try {
      // One open file for stat and read: a log replaced or truncated between the two cannot make the
      // stream read past its end and then wait for bytes that never come.
      try {
        fd = fs.openSync(logFile, 'r');
      } catch {
        return; // not created yet (or gone): keep polling
      }
      const st = fs.fstatSync(fd);
      if (offset < 0) {
        offset = Math.max(0, st.size - TAIL_BYTES);
        ino = st.ino;
      } else if (st.ino !== ino) {
        ino = st.ino; // a new log file: start over from its beginning
        restart();
      } else if (st.size < offset) {
        restart(); // truncated
      }
      while (st.size > offset && !stopped) {
        const buf = Buffer.alloc(Math.min(st.size - offset, 256 * 1024));
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        send({ data: decoder.decode(buf.subarray(0, n), { stream: true }) });
      }
    } catch {
      /* the VM may be gone; keep following, the client shows its state */
    } finally {
      if (fd !== null) fs.closeSync(fd);
      reading = false;
    }
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
