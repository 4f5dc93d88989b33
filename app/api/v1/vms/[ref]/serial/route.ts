// Serial console of a VM: GET = server-sent events of its serial output (the tail of the log QEMU writes,
// then whatever is appended); POST {data} = type into it (through the VM's serial chardev socket).
import { bodyAndRef, serve } from '@/lib/api/handler';
import { authenticateStream, sseResponse } from '@/lib/api/stream-auth';
import { tailSerialLog } from '@/lib/engine/serial-tail';
import { serialLogOf, typeSerial } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

export async function GET(req: Request, rc: { params: Promise<{ ref: string }> }) {
  let logFile = '';
  const auth = await authenticateStream(req, 'viewer', async () => {
    logFile = await serialLogOf((await rc.params).ref); // the VM exists: before a stream slot is taken
  });
  if ('error' in auth) return auth.error;
  // First message: reconnect quickly, and clear what a previous connection of this EventSource showed
  // (the stream starts again from the log's tail, so nothing is shown twice).
  return sseResponse(req, auth.slot, (send) => {
    send({ reset: true });
    return tailSerialLog(logFile, send);
  }, { retryMs: 1000 });
}

export const POST = serve(typeSerial, bodyAndRef);
