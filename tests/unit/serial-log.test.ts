// A guest that floods its serial port must not fill INSTACLONE_HOME: the log is cut past its cap.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capSerialLog } from '@/lib/engine/serial-log';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-serial-log-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the serial log cap', () => {
  it('cuts the log past the cap, keeps the part before in serial.log.1, says so, and the writer goes on at the new end', () => {
    const log = path.join(dir, 'serial.log');
    const qemu = fs.openSync(log, 'a', 0o600); // what QEMU holds: logappend=on is O_APPEND
    const MiB = Buffer.alloc(1 << 20, 0x41);
    for (let i = 0; i < 3; i++) fs.writeSync(qemu, MiB);
    expect(capSerialLog(log, 4 << 20)).toBe(false); // under the cap: untouched
    for (let i = 0; i < 3; i++) fs.writeSync(qemu, MiB);
    expect(capSerialLog(log, 4 << 20)).toBe(true);
    expect(fs.statSync(`${log}.1`).size).toBe(6 << 20);
    expect(fs.statSync(`${log}.1`).mode & 0o777).toBe(0o600);
    const cut = fs.readFileSync(log, 'utf8');
    expect(cut).toMatch(/^\r\n\[instaclone: serial log cut at \S+: it passed 4 MiB; the part before is in serial\.log\.1\]\r\n$/);
    fs.writeSync(qemu, 'after the cut\n');
    fs.closeSync(qemu);
    const st = fs.statSync(log);
    expect(st.size).toBe(Buffer.byteLength(cut) + 14); // no hole where the old content was
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    expect(fs.readFileSync(log, 'utf8').endsWith('after the cut\n')).toBe(true);
  });

  it('never follows a symlink planted as the log', () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'x'.repeat(4096));
    const log = path.join(dir, 'link.log');
    fs.symlinkSync(victim, log);
    expect(capSerialLog(log, 1024)).toBe(false);
    expect(fs.statSync(victim).size).toBe(4096);
  });
});
