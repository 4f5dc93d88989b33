// QMP client: one connection per VM (a QMP socket serves one client at a time), multiplexed.
// greeting -> qmp_capabilities -> commands with generated ids and a pending map; asynchronous
// events go to an EventEmitter; on disconnect every pending call fails with a clear error.
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { EngineError } from './errors';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** An error reply from QEMU; carries the command sent and the reply. */
export class QmpError extends EngineError {
  readonly command: string;
  readonly errorClass: string;
  readonly reply: unknown;
  constructor(command: string, errorClass: string, desc: string, reply: unknown) {
    super('qemu', `QEMU refused ${command}: ${desc}`, { command, class: errorClass });
    this.name = 'QmpError';
    this.command = command;
    this.errorClass = errorClass;
    this.reply = reply;
  }
}

/** The connection went away (QEMU exited or closed the socket) or never came up. */
export class QmpDisconnectedError extends EngineError {
  constructor(message: string) {
    super('qemu', message);
    this.name = 'QmpDisconnectedError';
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

type RunState = 'idle' | 'connecting' | 'running' | 'closed';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class QmpClient extends EventEmitter {
  private sock: net.Socket | null = null;
  private buf = '';
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private state: RunState = 'idle';
  private greeting: ((v: unknown) => void) | null = null;
  /** why the connection closed, once it has */
  closedReason: string | null = null;

  private constructor(readonly path: string) {
    super();
    this.setMaxListeners(100);
  }

  get connected(): boolean {
    return this.state === 'running';
  }

  /** Connects (retrying while the socket does not accept yet) and negotiates capabilities. */
  static async connect(path: string, opts: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let lastErr: Error | null = null;
    while (Date.now() < deadline) {
      const c = new QmpClient(path);
      try {
        await c.open(Math.max(200, deadline - Date.now()));
        return c;
      } catch (e) {
        lastErr = e as Error;
        c.close();
        if (e instanceof QmpError) throw e;
        await sleep(20);
      }
    }
    throw new QmpDisconnectedError(
      `Could not connect to QEMU's QMP socket ${path} (${lastErr?.message ?? 'timeout'}); the VM's QEMU process is probably not running.`,
    );
  }

  private open(timeoutMs: number): Promise<void> {
    this.state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no QMP greeting in time'));
      }, timeoutMs);
      const sock = net.createConnection(this.path);
      this.sock = sock;
      sock.setEncoding('utf8');
      sock.on('error', (e) => {
        clearTimeout(timer);
        if (this.state === 'connecting') reject(e);
        else this.teardown(`QMP connection error: ${e.message}`);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        if (this.state === 'connecting') reject(new Error('socket closed during greeting'));
        this.teardown('QEMU closed the QMP connection (the VM exited)');
      });
      sock.on('data', (d: string) => this.onData(d));
      this.greeting = () => {
        this.greeting = null;
        this.state = 'running';
        this.execute('qmp_capabilities')
          .then(() => {
            clearTimeout(timer);
            resolve();
          })
          .catch((e) => {
            clearTimeout(timer);
            reject(e);
          });
      };
    });
  }

  private onData(d: string) {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).trim();
      this.buf = this.buf.slice(i + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if ('QMP' in msg) {
        this.greeting?.(msg);
      } else if ('event' in msg) {
        this.emit('event', msg as unknown as QmpEvent);
        this.emit(String(msg.event), msg as unknown as QmpEvent);
      } else if ('id' in msg) {
        const p = this.pending.get(String(msg.id));
        if (!p) continue;
        this.pending.delete(String(msg.id));
        if (p.timer) clearTimeout(p.timer);
        if ('error' in msg) {
          const err = msg.error as { class?: string; desc?: string };
          p.reject(new QmpError(p.command, err.class ?? 'GenericError', err.desc ?? 'unknown error', msg));
        } else p.resolve(msg.return);
      }
    }
  }

  private teardown(reason: string) {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    this.closedReason = reason;
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new QmpDisconnectedError(`${p.command} did not complete: ${reason}.`));
    }
    this.pending.clear();
    this.sock?.destroy();
    if (wasRunning) this.emit('disconnect', reason);
  }

  /** Sends one command and resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.state !== 'running' || !this.sock) {
      return Promise.reject(
        new QmpDisconnectedError(`Cannot send ${command}: ${this.closedReason ?? 'not connected to QEMU'}.`),
      );
    }
    const id = `ic${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { command, resolve: resolve as (v: unknown) => void, reject };
      p.timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new EngineError('qemu', `QEMU did not answer ${command} within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.pending.set(id, p);
      this.sock!.write(JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id }) + '\n');
    });
  }

  /** Resolves with the next event named `name` (register before sending the command that causes it). */
  waitEvent(name: string, timeoutMs: number, filter?: (e: QmpEvent) => boolean): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const on = (e: QmpEvent) => {
        if (filter && !filter(e)) return;
        done();
        resolve(e);
      };
      const onClose = (reason: string) => {
        done();
        reject(new QmpDisconnectedError(`while waiting for ${name}: ${reason}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new EngineError('qemu', `QEMU did not send ${name} within ${timeoutMs} ms.`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.off(name, on);
        this.off('disconnect', onClose);
      };
      this.on(name, on);
      this.on('disconnect', onClose);
    });
  }

  close() {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    this.closedReason = 'closed by the engine';
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new QmpDisconnectedError(`${p.command} did not complete: the engine closed the connection.`));
    }
    this.pending.clear();
    this.sock?.destroy();
    this.sock = null;
    void wasRunning;
  }
}
