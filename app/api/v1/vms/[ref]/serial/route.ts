// Serial console of a VM: GET = server-sent events of its serial output (the tail of the log QEMU writes,
// then whatever is appended); POST {data} = type into it (through the VM's serial chardev socket).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { authenticate, errorResponse, readJson, route } from '@/lib/api/handler';
import { db } from '@/lib/db';
import { EngineError } from '@/lib/engine/errors';
import { paths } from '@/lib/engine/paths';

export const dynamic = 'force-dynamic';

const TAIL_BYTES = 64 * 1024;

async function findVm(ref: string) {
  const vm = await db().vm.findFirst({ where: { OR: [{ id: ref }, { name: ref }] } });
  if (!vm) throw new EngineError('not_found', `No VM named or with id "${ref}": see "instaclone ls".`);
  return vm;
}

export async function GET(req: Request, rc: { params: Promise<{ ref: string }> }) {
  let logFile: string;
  try {
    await authenticate(req, 'viewer');
    const vm = await findVm((await rc.params).ref);
    logFile = paths.vmSerialLog(vm.id);
  } catch (e) {
    return errorResponse(e);
  }
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const stream = new ReadableStream({
    start(controller) {
      let offset = -1;
      let decoder = new TextDecoder();
      let reading = false;
      const send = (obj: unknown) => {
        try {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(obj)}\n\n`));
        } catch {
          cleanup();
        }
      };
      const poll = () => {
        if (reading) return;
        reading = true;
        try {
          let size = 0;
          try {
            size = fs.statSync(logFile).size;
          } catch {
            size = 0;
          }
          if (offset < 0) offset = Math.max(0, size - TAIL_BYTES);
          if (size < offset) {
            // The log was truncated (a restart): start over.
            offset = 0;
            decoder = new TextDecoder();
            send({ reset: true });
          }
          if (size > offset) {
            const fd = fs.openSync(logFile, 'r');
            try {
              const len = Math.min(size - offset, 256 * 1024);
              const buf = Buffer.alloc(len);
              fs.readSync(fd, buf, 0, len, offset);
              offset += len;
              send({ data: decoder.decode(buf, { stream: true }) });
            } finally {
              fs.closeSync(fd);
            }
          }
        } catch {
          /* the VM may be gone; keep the stream open, the client shows its state */
        } finally {
          reading = false;
        }
      };
      poll();
      const timer = setInterval(poll, 250);
      const ping = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(': ping\n\n'));
        } catch {
          cleanup();
        }
      }, 15_000);
      cleanup = () => {
        clearInterval(timer);
        clearInterval(ping);
      };
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

export const POST = route('operator', async ({ req, params }) => {
  const body = (await readJson(req)) as { data?: unknown };
  if (typeof body.data !== 'string' || body.data.length === 0 || body.data.length > 4096) {
    throw new EngineError('invalid', 'Send {"data": "…"} with 1 to 4096 characters to type into the serial console.');
  }
  const vm = await findVm(params.ref);
  if (vm.state !== 'running' && vm.state !== 'starting') throw new EngineError('conflict', `${vm.name} is ${vm.state}: start it to use its serial console.`);
  const sock = path.join(vm.runDir, 'serial.sock');
  const data = body.data;
  await new Promise<void>((resolve, reject) => {
    const c = net.createConnection(sock);
    const t = setTimeout(() => {
      c.destroy();
      reject(new EngineError('conflict', `The serial console of ${vm.name} is busy (another client holds it); try again.`));
    }, 3000);
    c.once('connect', () => {
      c.end(data, () => {
        clearTimeout(t);
        resolve();
      });
    });
    c.once('error', (e) => {
      clearTimeout(t);
      reject(new EngineError('conflict', `The serial console of ${vm.name} is not reachable (${(e as NodeJS.ErrnoException).code ?? e.message}).`));
    });
  });
  return { ok: true };
});
