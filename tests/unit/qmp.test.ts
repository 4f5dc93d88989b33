// QMP client error paths against a fake QMP server (no QEMU).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpClient, QmpDisconnectedError, QmpError } from '../../lib/engine/qmp';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-'));
let servers: net.Server[] = [];

function fakeQmp(onCmd: (c: { execute: string; id?: string }, sock: net.Socket) => void): Promise<string> {
  const p = path.join(dir, `q${servers.length}.sock`);
  const srv = net.createServer((sock) => {
    sock.write(JSON.stringify({ QMP: { version: {}, capabilities: [] } }) + '\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const c = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (c.execute === 'qmp_capabilities') sock.write(JSON.stringify({ return: {}, id: c.id }) + '\n');
        else onCmd(c, sock);
      }
    });
  });
  servers.push(srv);
  return new Promise((r) => srv.listen(p, () => r(p)));
}

afterEach(() => {
  servers.forEach((s) => s.close());
  servers = [];
});

describe('QmpClient', () => {
  it('matches replies by id, out of order, and emits events', async () => {
    const p = await fakeQmp((c, s) => {
      if (c.execute === 'slow') setTimeout(() => s.write(JSON.stringify({ return: 'slow', id: c.id }) + '\n'), 30);
      else {
        s.write(JSON.stringify({ event: 'STOP', data: {} }) + '\n');
        s.write(JSON.stringify({ return: 'fast', id: c.id }) + '\n');
      }
    });
    const q = await QmpClient.connect(p);
    const ev = q.waitEvent('STOP', 1000);
    const [a, b] = await Promise.all([q.execute('slow'), q.execute('fast')]);
    expect([a, b]).toEqual(['slow', 'fast']);
    expect((await ev).event).toBe('STOP');
    q.close();
  });

  it('turns an error reply into a QmpError carrying the command and the reply', async () => {
    const p = await fakeQmp((c, s) => s.write(JSON.stringify({ error: { class: 'GenericError', desc: 'nope' }, id: c.id }) + '\n'));
    const q = await QmpClient.connect(p);
    const err = (await q.execute('cont').catch((e: unknown) => e)) as QmpError;
    expect(err).toBeInstanceOf(QmpError);
    expect(err.command).toBe('cont');
    expect(err.errorClass).toBe('GenericError');
    expect(err.message).toMatch(/cont: nope/);
    q.close();
  });

  it('fails every pending call when QEMU goes away, and emits disconnect', async () => {
    const p = await fakeQmp((_c, s) => setTimeout(() => s.destroy(), 20));
    const q = await QmpClient.connect(p);
    const gone = new Promise((r) => q.once('disconnect', r));
    const res = await Promise.allSettled([q.execute('a'), q.execute('b')]);
    for (const r of res) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QmpDisconnectedError);
    }
    await gone;
    await expect(q.execute('c')).rejects.toThrow(/Cannot send c/);
  });

  it('times out a command QEMU never answers, and a socket nobody serves', async () => {
    const p = await fakeQmp(() => undefined);
    const q = await QmpClient.connect(p);
    await expect(q.execute('hang', undefined, 50)).rejects.toThrow(/did not answer hang within 50 ms/);
    q.close();
    await expect(QmpClient.connect(path.join(dir, 'none.sock'), { timeoutMs: 200 })).rejects.toThrow(/Could not connect/);
  });
});
