// AgentClient against a fake qemu-ga on a unix socket: sync with stale bytes in the pipe, error
// replies, timeouts followed by a resync, guest-exec polling, one request at a time.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient, AgentError } from '../../lib/engine/agent';
import { EngineError } from '../../lib/engine/errors';

type Handler = (req: { execute: string; arguments?: Record<string, any> }, reply: (obj: unknown) => void, raw: net.Socket) => void;

let dir: string;
let server: net.Server | null = null;
const clients: AgentClient[] = [];

function fakeAgent(sock: string, handler: Handler, opts: { staleOnConnect?: Buffer; inflightMax?: { n: number } } = {}) {
  let inflight = 0;
  server = net.createServer((c) => {
    if (opts.staleOnConnect) c.write(opts.staleOnConnect);
    let buf = '';
    c.on('data', (d: Buffer) => {
      buf += d.toString('latin1').replace(/\xff/g, '');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const req = JSON.parse(line);
        inflight++;
        if (opts.inflightMax) opts.inflightMax.n = Math.max(opts.inflightMax.n, inflight);
        const reply = (obj: unknown) => {
          inflight--;
          const delimited = req.execute === 'guest-sync-delimited';
          c.write(Buffer.concat([Buffer.from(delimited ? [0xff] : []), Buffer.from(JSON.stringify(obj) + '\n')]));
        };
        handler(req, reply, c);
      }
    });
  });
  return new Promise<void>((r) => server!.listen(sock, () => r()));
}

const sync: Handler = (req, reply) => {
  if (req.execute === 'guest-sync-delimited') reply({ return: req.arguments!.id });
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-agent-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('AgentClient', () => {
  it('syncs past stale bytes and stale replies, then runs commands', async () => {
    const sock = path.join(dir, 'ga.sock');
    // garbage, a half reply and a stale sync reply with another id, all before our sync reply
    const stale = Buffer.concat([Buffer.from('{"return": {"pid": 7'), Buffer.from([0xff]), Buffer.from('{"return": 12345}\n')]);
    await fakeAgent(
      sock,
      (req, reply) => {
        if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
        if (req.execute === 'guest-ping') return reply({ return: {} });
        if (req.execute === 'guest-info') return reply({ return: { version: '7.2.0' } });
      },
      { staleOnConnect: stale },
    );
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    await a.ping();
    expect(await a.call<{ version: string }>('guest-info')).toEqual({ version: '7.2.0' });
  });

  it('retries until the socket appears', async () => {
    const sock = path.join(dir, 'late.sock');
    const p = AgentClient.connect(sock, { timeoutMs: 5000 });
    setTimeout(() => void fakeAgent(sock, sync), 300);
    const a = await p;
    clients.push(a);
  });

  it('gives a clear qemu error when nobody answers', async () => {
    const sock = path.join(dir, 'silent.sock');
    await fakeAgent(sock, () => undefined);
    const err: any = await AgentClient.connect(sock, { timeoutMs: 1500 }).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe('qemu');
    expect(err.message).toMatch(/did not answer/);
  });

  it('turns error replies into typed errors that carry the command', async () => {
    const sock = path.join(dir, 'ga.sock');
    await fakeAgent(sock, (req, reply) => {
      if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
      reply({ error: { class: 'CommandNotFound', desc: 'The command guest-nope has not been found' } });
    });
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const err: any = await a.call('guest-nope').catch((e: any) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err.code).toBe('qemu');
    expect(err.command).toBe('guest-nope');
    expect(err.errorClass).toBe('CommandNotFound');
    expect(err.message).toMatch(/guest-nope failed: The command guest-nope has not been found/);
  });

  it('times out a call, discards its late reply and resyncs for the next one', async () => {
    const sock = path.join(dir, 'ga.sock');
    await fakeAgent(sock, (req, reply) => {
      if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
      if (req.execute === 'slow') return void setTimeout(() => reply({ return: 'late' }), 400);
      if (req.execute === 'fast') return reply({ return: 'fast' });
    });
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const err: any = await a.call('slow', undefined, 100).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toMatch(/slow timed out/);
    // the late 'late' reply must not be taken as the answer to 'fast'
    expect(await a.call('fast')).toBe('fast');
  });

  it('keeps one request on the wire at a time', async () => {
    const sock = path.join(dir, 'ga.sock');
    const inflightMax = { n: 0 };
    await fakeAgent(
      sock,
      (req, reply) => {
        if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
        setTimeout(() => reply({ return: req.arguments!.i }), 5);
      },
      { inflightMax },
    );
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => a.call('echo', { i })));
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(inflightMax.n).toBe(1);
  });

  it('exec passes argv and stdin, polls guest-exec-status and decodes the output', async () => {
    const sock = path.join(dir, 'ga.sock');
    let seen: Record<string, any> | undefined;
    let polls = 0;
    await fakeAgent(sock, (req, reply) => {
      if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
      if (req.execute === 'guest-exec') {
        seen = req.arguments;
        return reply({ return: { pid: 42 } });
      }
      if (req.execute === 'guest-exec-status') {
        polls++;
        if (polls < 3) return reply({ return: { exited: false } });
        const input = Buffer.from(seen!['input-data'], 'base64').toString();
        return reply({
          return: {
            exited: true,
            exitcode: 3,
            'out-data': Buffer.from(`out:${input}`).toString('base64'),
            'err-data': Buffer.from('oops').toString('base64'),
          },
        });
      }
    });
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const r = await a.exec(['/bin/sh', '-c', 'cat', 'x; rm -rf /'], { input: 'hé' });
    expect(seen).toMatchObject({ path: '/bin/sh', arg: ['-c', 'cat', 'x; rm -rf /'], 'capture-output': true });
    expect(r).toEqual({ exitCode: 3, stdout: 'out:hé', stderr: 'oops', polls: 3 });
    expect(polls).toBe(3);
  });

  it('rejects a pending call when QEMU closes the socket, and close() is final', async () => {
    const sock = path.join(dir, 'ga.sock');
    await fakeAgent(sock, (req, reply, raw) => {
      if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
      raw.destroy();
    });
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const err: any = await a.call('guest-ping', undefined, 2000).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    a.close();
    const err2: any = await a.ping().catch((e: any) => e);
    expect(err2.message).toMatch(/closed/);
  });
});

describe('a hostile guest flooding its agent channel', () => {
  it('cannot make the reader hold more than the cap: an endless reply fails its call, and the next call resyncs', async () => {
    const { MAX_AGENT_REPLY_BYTES } = await import('../../lib/engine/agent');
    const sock = path.join(dir, 'ga.sock');
    let flooded = 0;
    await fakeAgent(sock, (req, reply, raw) => {
      if (req.execute === 'guest-sync-delimited') return reply({ return: req.arguments!.id });
      if (req.execute === 'flood') {
        // an object that never ends: '{"return":"aaaa…' past the cap
        raw.on('error', () => undefined); // the client hangs up mid-flood at the end
        raw.write('{"return":"');
        const chunk = Buffer.alloc(1 << 20, 0x61);
        const more = () => {
          while (flooded < MAX_AGENT_REPLY_BYTES + (4 << 20)) {
            flooded += chunk.length;
            if (!raw.write(chunk)) return void raw.once('drain', more);
          }
        };
        more();
        return;
      }
      if (req.execute === 'after') return reply({ return: 'fine' });
    });
    const a = await AgentClient.connect(sock, { timeoutMs: 5000 });
    clients.push(a);
    const err: any = await a.call('flood', undefined, 60_000).catch((e: any) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toMatch(/sent a reply larger than 24 MiB \(for flood\)/);
    expect(await a.call('after')).toBe('fine');
  });

  it('parses a reply that arrives in many small chunks in linear time (no rescans)', async () => {
    const { JsonStream } = await import('../../lib/engine/agent');
    const feed = (mib: number) => {
      const body = Buffer.from(JSON.stringify({ return: 'x'.repeat(mib << 20) }));
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        const s = new JsonStream();
        const t0 = performance.now();
        let got: unknown[] = [];
        for (let i = 0; i < body.length; i += 16 * 1024) got = got.concat(s.push(body.subarray(i, i + 16 * 1024)));
        best = Math.min(best, performance.now() - t0);
        expect(got).toHaveLength(1);
      }
      return best;
    };
    const small = feed(1);
    const big = feed(8);
    // linear: ~8x; the old concat-and-rescan reader was quadratic (~64x)
    expect(big / small).toBeLessThan(24);
  });
});

describe('JsonStream resync', () => {
  it('drops a half object when a resync starts, and parses the reply after the delimiter', async () => {
    const { JsonStream } = await import('../../lib/engine/agent');
    const s = new JsonStream();
    expect(s.push(Buffer.from('{"return": {"a": [1, '))).toEqual([]);
    s.discardUntilDelimiter = true;
    expect(s.push(Buffer.concat([Buffer.from('2]}}\n'), Buffer.from([0xff]), Buffer.from('{"return": 42}\n')]))).toEqual([{ return: 42 }]);
  });
});
