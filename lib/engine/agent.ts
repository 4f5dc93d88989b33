// Client for the QEMU guest agent (qemu-ga) on a virtio-serial port, reached through a QEMU
// `-chardev socket,server=on,wait=off` on the host. Pure TypeScript, no React/Next.
//
// Protocol notes:
// - The chardev socket serves ONE client at a time; keep one AgentClient per VM.
// - Requests are answered strictly in order, one JSON object per reply. We keep one request on
//   the wire at a time (a queue), which keeps matching replies to requests trivial.
// - A reply to a request we gave up on (timeout) may still arrive later, and a forked child can
//   have stale bytes in the pipe from its parent. So after connecting, and after any timeout, we
//   resynchronise with `guest-sync-delimited`: send 0xFF + the sync request with a random id, then
//   discard everything up to a 0xFF byte and every reply that is not our id.
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { EngineError } from './errors';

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_CALL_TIMEOUT_MS = 10_000;
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
const SYNC_ATTEMPT_MS = 1_000;

/** An error reply from the guest agent (`{"error":{"class","desc"}}`). */
export class AgentError extends EngineError {
  readonly command: string;
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super('qemu', `guest agent command ${command} failed: ${desc} (${errorClass})`, { command, class: errorClass });
    this.name = 'AgentError';
    this.command = command;
    this.errorClass = errorClass;
  }
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: number;
  /** guest-exec-status requests it took */
  polls?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** the sync id when this is a guest-sync-delimited request */
  syncId?: number;
  command: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The largest reply the engine keeps (guest-exec output is base64 and capped by qemu-ga at 16 MiB). */
export const MAX_AGENT_REPLY_BYTES = 24 * 1024 * 1024;

/**
 * Splits a byte stream into top-level JSON objects (string- and escape-aware). The guest writes
 * this stream, so: each byte is scanned once (the scan state survives between chunks; no rescans),
 * and an object past `maxBytes` is dropped (then everything up to the next 0xFF resync delimiter).
 */
export class JsonStream {
  private parts: Buffer[] = [];
  private size = 0;
  private depth = 0;
  private inStr = false;
  private esc = false;
  /** when true, discard everything up to and including the next 0xFF byte */
  discardUntilDelimiter = false;
  /** objects dropped for being too large (the reader fails the pending call on a change) */
  oversized = 0;

  constructor(private readonly maxBytes = MAX_AGENT_REPLY_BYTES) {}

  private restart() {
    this.parts = [];
    this.size = 0;
    this.depth = 0;
    this.inStr = false;
    this.esc = false;
  }

  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.discardUntilDelimiter) {
        this.restart(); // a half object from before the resync is garbage too
        const j = chunk.indexOf(0xff, i);
        if (j < 0) return out;
        i = j + 1;
        this.discardUntilDelimiter = false;
        continue;
      }
      if (this.depth === 0) {
        // between objects: skip whitespace and stray delimiter bytes
        const j = chunk.indexOf(0x7b /* { */, i);
        if (j < 0) return out;
        i = j;
      }
      const from = i;
      let ended = false;
      let garbage = false;
      for (; i < chunk.length; i++) {
        const c = chunk[i];
        if (this.inStr) {
          if (this.esc) this.esc = false;
          else if (c === 0x5c) this.esc = true;
          else if (c === 0x22) this.inStr = false;
          continue;
        }
        if (c === 0x22) this.inStr = true;
        else if (c === 0x7b) this.depth++;
        else if (c === 0x7d) {
          if (--this.depth === 0) {
            ended = true;
            i++;
            break;
          }
        } else if (c === 0xff) {
          // a delimiter inside an unfinished object: the object was garbage; restart after it
          garbage = true;
          i++;
          break;
        }
      }
      if (garbage) {
        this.restart();
        continue;
      }
      this.parts.push(chunk.subarray(from, i));
      this.size += i - from;
      if (this.size > this.maxBytes) {
        this.restart();
        this.discardUntilDelimiter = true;
        this.oversized++;
        continue;
      }
      if (ended) {
        const text = Buffer.concat(this.parts).toString('utf8');
        this.restart();
        try {
          out.push(JSON.parse(text));
        } catch {
          // garbage (e.g. a half reply from before a resync): drop it
        }
      }
    }
    return out;
  }
}

export class AgentClient {
  readonly socketPath: string;
  private sock: net.Socket | null = null;
  private stream = new JsonStream();
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private needSync = true;
  private closed = false;
  private connectTimeoutMs: number;

  private constructor(socketPath: string, connectTimeoutMs: number) {
    this.socketPath = socketPath;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  /**
   * Connects to the agent's chardev socket and synchronises with guest-sync-delimited, retrying
   * (the socket may not exist yet; the guest agent may not be up yet) until it answers or the
   * timeout passes.
   */
  static async connect(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<AgentClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const c = new AgentClient(socketPath, timeoutMs);
    try {
      await c.ensureReady(Date.now() + timeoutMs);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /**
   * Opens the agent's chardev socket WITHOUT waiting for the guest (no sync yet): the first command
   * (or ready()) synchronises. A fork opens it before the checkpoint load and `cont`, so that the
   * child's virtio-serial port is host-connected as it was in the parent at freeze time: otherwise
   * QEMU tells the resumed guest "port closed", qemu-ga reads EOF and sleeps 500 ms (QGA_SLEEP_TIME)
   * before it looks at the port again.
   */
  static async open(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<AgentClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const c = new AgentClient(socketPath, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await c.open(deadline);
        return c;
      } catch (e) {
        if (Date.now() >= deadline) {
          c.close();
          throw new EngineError('qemu', `Could not open the guest agent socket ${socketPath} (${(e as Error).message}); check that QEMU is running.`);
        }
        await sleep(5);
      }
    }
  }

  /** Waits until the guest agent answers a guest-sync-delimited (no-op when already in sync). */
  ready(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    if (this.sock && !this.needSync && !this.closed) return Promise.resolve();
    return this.enqueue(() => this.ensureReady(Date.now() + timeoutMs));
  }

  /** Runs one agent command; rejects with AgentError on an error reply, EngineError on timeout. */
  call<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
    return this.enqueue(async () => {
      const deadline = Date.now() + timeoutMs;
      await this.ensureReady(deadline, command);
      return (await this.request(command, args, deadline)) as T;
    });
  }

  async ping(): Promise<void> {
    await this.call('guest-ping', undefined, 5_000);
  }

  /**
   * Runs a program in the guest (guest-exec with captured output; `input` goes to its stdin) and
   * waits for it to exit, polling guest-exec-status with a short backoff.
   */
  async exec(
    argv: string[],
    opts: { input?: string | Buffer; timeoutMs?: number; env?: string[]; firstPollMs?: number; maxPollMs?: number } = {},
  ): Promise<ExecResult> {
    if (argv.length === 0) throw new EngineError('invalid', 'exec needs a program to run (argv is empty).');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const args: Record<string, unknown> = { path: argv[0], arg: argv.slice(1), 'capture-output': true };
    if (opts.env) args.env = opts.env;
    if (opts.input !== undefined) {
      args['input-data'] = Buffer.from(opts.input).toString('base64');
    }
    const { pid } = await this.call<{ pid: number }>('guest-exec', args, Math.max(1, deadline - Date.now()));
    let delay = opts.firstPollMs ?? 0;
    let polls = 0;
    for (;;) {
      if (delay > 0) await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new EngineError('qemu', `guest command ${argv[0]} did not finish within ${timeoutMs} ms (guest pid ${pid}).`, {
          command: 'guest-exec',
          argv,
        });
      }
      const st = await this.call<{
        exited: boolean;
        exitcode?: number;
        signal?: number;
        'out-data'?: string;
        'err-data'?: string;
      }>('guest-exec-status', { pid }, left);
      polls++;
      if (st.exited) {
        const res: ExecResult = {
          exitCode: st.exitcode ?? (st.signal !== undefined ? 128 + st.signal : -1),
          stdout: st['out-data'] ? Buffer.from(st['out-data'], 'base64').toString('utf8') : '',
          stderr: st['err-data'] ? Buffer.from(st['err-data'], 'base64').toString('utf8') : '',
          polls,
        };
        if (st.signal !== undefined) res.signal = st.signal;
        return res;
      }
      delay = delay === 0 ? 5 : Math.min(delay * 2, opts.maxPollMs ?? 100);
    }
  }

  close(): void {
    this.closed = true;
    this.failPending(new EngineError('qemu', `guest agent connection ${this.socketPath} was closed.`));
    this.sock?.destroy();
    this.sock = null;
  }

  // ------------------------------------------------------------------------------------------

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private failPending(err: Error) {
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  private async ensureReady(deadline: number, command = 'connect'): Promise<void> {
    if (this.closed) throw new EngineError('qemu', `guest agent connection ${this.socketPath} is closed.`);
    if (this.sock && !this.needSync) return;
    let lastErr = '';
    while (Date.now() < deadline) {
      try {
        if (!this.sock) await this.open(deadline);
        const id = randomInt(1, 2 ** 31 - 1);
        this.stream.discardUntilDelimiter = true;
        const attemptDeadline = Math.min(deadline, Date.now() + SYNC_ATTEMPT_MS);
        const got = await this.request('guest-sync-delimited', { id }, attemptDeadline, id, true);
        if (got === id) {
          this.needSync = false;
          return;
        }
      } catch (e) {
        lastErr = (e as Error).message;
        if (this.closed) throw e;
        if (!this.sock) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
    throw new EngineError(
      'qemu',
      `The guest agent on ${this.socketPath} did not answer ${command === 'connect' ? '' : `(for ${command}) `}within the time allowed` +
        (lastErr ? ` (last error: ${lastErr})` : '') +
        '; check that the guest booted and runs qemu-ga on the org.qemu.guest_agent.0 port.',
      { command },
    );
  }

  private open(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.socketPath);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timed out'));
      }, Math.max(1, deadline - Date.now()));
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        this.sock = s;
        this.stream = new JsonStream();
        this.needSync = true;
        s.on('data', (d: Buffer) => this.onData(d));
        s.on('error', () => undefined);
        s.on('close', () => {
          if (this.sock === s) this.sock = null;
          this.needSync = true;
          this.failPending(new EngineError('qemu', `guest agent connection ${this.socketPath} was closed by QEMU.`));
        });
        resolve();
      });
      s.once('error', (e) => {
        clearTimeout(t);
        s.destroy();
        reject(e);
      });
    });
  }

  private onData(d: Buffer) {
    const dropped = this.stream.oversized;
    const msgs = this.stream.push(d);
    if (this.stream.oversized !== dropped) {
      this.needSync = true; // the rest of it is skipped up to the next sync's delimiter
      const p = this.pending;
      this.pending = null;
      p?.reject(new EngineError('qemu', `The guest agent on ${this.socketPath} sent a reply larger than ${MAX_AGENT_REPLY_BYTES >> 20} MiB (for ${p.command}); it was dropped. Ask for less output.`, { command: p.command }));
    }
    for (const msg of msgs) {
      const p = this.pending;
      if (!p) continue; // stale reply nobody waits for
      const m = msg as { return?: unknown; error?: { class?: string; desc?: string } };
      if (p.syncId !== undefined) {
        // while syncing, only our id counts; stale replies (other ids, old errors) are dropped
        if ('return' in m && m.return === p.syncId) {
          this.pending = null;
          p.resolve(m.return);
        }
        continue;
      }
      this.pending = null;
      if (m.error) p.reject(new AgentError(p.command, m.error.class ?? 'GenericError', m.error.desc ?? 'unknown error'));
      else p.resolve(m.return);
    }
  }

  private request(
    command: string,
    args: Record<string, unknown> | undefined,
    deadline: number,
    syncId?: number,
    delimited = false,
  ): Promise<unknown> {
    const sock = this.sock;
    if (!sock) return Promise.reject(new EngineError('qemu', `guest agent ${this.socketPath} is not connected.`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          if (this.pending === entry) this.pending = null;
          this.needSync = true; // a late reply may still come: resync before the next request
          reject(new EngineError('qemu', `guest agent command ${command} timed out on ${this.socketPath}.`, { command }));
        },
        Math.max(1, deadline - Date.now()),
      );
      const entry: Pending = {
        command,
        syncId,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pending = entry;
      const body = JSON.stringify(args ? { execute: command, arguments: args } : { execute: command });
      const data = delimited ? Buffer.concat([Buffer.from([0xff]), Buffer.from(body + '\n')]) : Buffer.from(body + '\n');
      sock.write(data);
    });
  }
}
