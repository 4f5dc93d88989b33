// Typing into a VM's serial console. QEMU's socket chardev serves one client at a time, and when a
// client writes and closes at once, QEMU sees the hang-up before it has read everything (it reads only
// as much as the guest UART's FIFO takes, 16 bytes, as the guest drains it): the rest of the keystrokes
// are lost. So each VM gets one connection, kept open while someone is typing and closed when idle,
// and writes to it are queued so keystrokes arrive in the order they were typed. What QEMU sends back
// on the connection is discarded: the serial log (logfile=) has it for the console's stream.
import net from 'node:net';
import { EngineError } from './errors';

const IDLE_MS = 20_000;
const CONNECT_MS = 3_000;

interface Writer {
  chain: Promise<void>;
  sock?: net.Socket;
  path?: string;
  idle?: ReturnType<typeof setTimeout>;
}

const holder = globalThis as unknown as { __instacloneSerial?: Map<string, Writer> };
const writers = (holder.__instacloneSerial ??= new Map());

function drop(w: Writer, vmId: string) {
  if (w.idle) clearTimeout(w.idle);
  w.idle = undefined;
  w.sock?.destroy();
  w.sock = undefined;
  if (writers.get(vmId) === w) writers.delete(vmId);
}

function connect(w: Writer, vmId: string, sockPath: string, name: string): Promise<net.Socket> {
  if (w.sock && !w.sock.destroyed && w.path === sockPath) return Promise.resolve(w.sock);
  w.sock?.destroy();
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sockPath);
    const t = setTimeout(() => {
      c.destroy();
      reject(new EngineError('conflict', `The serial console of ${name} does not answer; try again.`));
    }, CONNECT_MS);
    c.once('connect', () => {
      clearTimeout(t);
      c.resume(); // discard what QEMU echoes to this client
      c.on('error', () => undefined);
      c.on('close', () => {
        if (w.sock === c) {
          w.sock = undefined;
          if (w.idle) clearTimeout(w.idle);
          w.idle = undefined;
        }
      });
      w.sock = c;
      w.path = sockPath;
      resolve(c);
    });
    c.once('error', (e) => {
      clearTimeout(t);
      drop(w, vmId);
      reject(new EngineError('conflict', `The serial console of ${name} is not reachable (${(e as NodeJS.ErrnoException).code ?? e.message}).`));
    });
  });
}

async function write(w: Writer, vmId: string, sockPath: string, name: string, data: string) {
  for (let attempt = 0; ; attempt++) {
    const c = await connect(w, vmId, sockPath, name);
    try {
      await new Promise<void>((resolve, reject) => c.write(data, (e) => (e ? reject(e) : resolve())));
      if (w.idle) clearTimeout(w.idle);
      w.idle = setTimeout(() => {
        // end(), not destroy(): by now QEMU has read what was typed
        w.sock?.end();
        w.sock = undefined;
        if (writers.get(vmId) === w) writers.delete(vmId);
      }, IDLE_MS);
      w.idle.unref?.();
      return;
    } catch (e) {
      // the VM was restarted (a new QEMU, a new socket at the same path): connect again, once
      c.destroy();
      if (w.sock === c) w.sock = undefined;
      if (attempt > 0) throw new EngineError('conflict', `Typing into the serial console of ${name} failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); try again.`);
    }
  }
}

/** Types `data` into the VM's serial console; resolves once it is handed to the socket, in order. */
export function typeSerial(vm: { id: string; name: string }, sockPath: string, data: string): Promise<void> {
  let w = writers.get(vm.id);
  if (!w) {
    w = { chain: Promise.resolve() };
    writers.set(vm.id, w);
  }
  const writer = w;
  const p = writer.chain.then(() => write(writer, vm.id, sockPath, vm.name, data));
  writer.chain = p.catch(() => undefined);
  return p;
}

/** Closes the VM's serial connection (the VM was stopped or deleted). */
export function closeSerial(vmId: string) {
  const w = writers.get(vmId);
  if (w) drop(w, vmId);
}
