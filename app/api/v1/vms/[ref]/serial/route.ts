// Serial console of a VM (operators and admins: a viewer sees no guest output, README): GET = server-sent events of its serial output (the tail of the log QEMU writes,
// then whatever is appended); POST {data} = type into it (through the VM's serial chardev socket).
import fs from 'node:fs';
import path from 'node:path';
import { readJson, route } from '@/lib/api/handler';
import { authenticateStream } from '@/lib/api/stream-auth';
import { audit } from '@/lib/auth/audit';
import { db } from '@/lib/db';
import { EngineError } from '@/lib/engine/errors';
import { paths } from '@/lib/engine/paths';
import { typeSerial } from '@/lib/engine/serial';

export const dynamic = 'force-dynamic';

const TAIL_BYTES = 64 * 1024;

async function findVm(ref: string) {
  const vm = await db().vm.findFirst({ where: { OR: [{ id: ref }, { name: ref }] } });
  if (!vm) throw new EngineError('not_found', `No VM named or with id "${ref}": see "instaclone ls".`);
  return vm;
}

export async function GET(req: Request, rc: { params: Promise<{ ref: string }> }) {
  let logFile = '';
  const auth = await authenticateStream(req, 'operator', async () => {
    logFile = paths.vmSerialLog((await findVm((await rc.params).ref)).id);
  });
  if ('error' in auth) return auth.error;
  const { slot } = auth;
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const stream = new ReadableStream({
    start(controller) {
      // offset < 0: not placed yet (the log may not exist yet: QEMU creates it when it starts).
      let offset = -1;
      let ino = -1;
      let decoder = new TextDecoder();
      let reading = false;
      let closed = false;
      const send = (obj: unknown) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(obj)}\n\n`));
        } catch {
          cleanup();
        }
      };
      const restart = () => {
        offset = 0;
        decoder = new TextDecoder();
        send({ reset: true });
      };
      const poll = () => {
        if (reading || closed) return;
        reading = true;
        let fd: number | null = null;
        try {
          // One open file for stat and read: a log replaced or truncated between the two cannot make
          // the stream read past its end and then wait for bytes that never come.
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
          while (st.size > offset) {
            const buf = Buffer.alloc(Math.min(st.size - offset, 256 * 1024));
            const n = fs.readSync(fd, buf, 0, buf.length, offset);
            if (n <= 0) break;
            offset += n;
            send({ data: decoder.decode(buf.subarray(0, n), { stream: true }) });
          }
        } catch {
          /* the VM may be gone; keep the stream open, the client shows its state */
        } finally {
          if (fd !== null) fs.closeSync(fd);
          reading = false;
        }
      };
      // First message: reconnect quickly, and clear what a previous connection of this EventSource
      // showed (the stream starts again from the log's tail, so nothing is shown twice).
      controller.enqueue(encoder.encode('retry: 1000\n\n'));
      send({ reset: true });
      poll();
      const timer = setInterval(poll, 250);
      const ping = setInterval(() => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(': ping\n\n'));
        } catch {
          cleanup();
        }
      }, 15_000);
      cleanup = () => {
        closed = true;
        clearInterval(timer);
        clearInterval(ping);
        slot.release();
      };
      slot.onEnd(() => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* closed */
        }
      });
      req.signal.addEventListener('abort', () => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* closed */
        }
      });
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' },
  });
}

// Typing is logged once per user, VM and TYPING_LOG_MS (not every keystroke, and never the keys:
// they may be a password).
const TYPING_LOG_MS = 5 * 60_000;
const typingLogged = new Map<string, number>();

export const POST = route('operator', async ({ req, params, principal }) => {
  const body = (await readJson(req)) as { data?: unknown };
  if (typeof body.data !== 'string' || body.data.length === 0 || body.data.length > 4096) {
    throw new EngineError('invalid', 'Send {"data": "…"} with 1 to 4096 characters to type into the serial console.');
  }
  const vm = await findVm(params.ref);
  if (vm.state !== 'running' && vm.state !== 'starting') throw new EngineError('conflict', `${vm.name} is ${vm.state}: start it to use its serial console.`);
  // One kept-open connection per VM, writes queued in order (lib/engine/serial.ts says why).
  await typeSerial(vm, path.join(vm.runDir, 'serial.sock'), body.data);
  const key = `${principal.name}\0${vm.id}`;
  const now = Date.now();
  if (now - (typingLogged.get(key) ?? 0) > TYPING_LOG_MS) {
    typingLogged.set(key, now);
    await audit(principal.name, 'serial.type', 'ok', { id: vm.id, name: vm.name }, 'typed into the serial console');
  }
  return { ok: true };
});
