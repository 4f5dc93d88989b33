// Images: GET lists built-in and imported images. POST imports a disk: either JSON
// {"name","disk","format","firmware"} naming a file on the console's host, or the disk itself as the
// request body (any other content type; name/format/firmware in the query string), streamed to a
// temporary file on disk — never held in memory — and removed when the upload is cut off or fails.
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readJson, route, serve } from '@/lib/api/handler';
import { operationResponse, wantsAsync } from '@/lib/api/operation';
import { EngineError } from '@/lib/engine/errors';
import { importRoom, uploadTempPath } from '@/lib/engine/imported';
import { importImageSchema } from '@/lib/validations';
import { importImage, importUploadedImage, listImages } from '@/lib/services/images';

export const dynamic = 'force-dynamic';

export const GET = serve(listImages);

const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;

// operators upload; a path on the console's host is an admin's (importImage checks that role)
export const POST = route(importUploadedImage.role, async ({ req, principal }) => {
  // a caller that waits may cancel the conversion by going away; a detached one may not
  const detached = wantsAsync(req);
  const opts = { detached, signal: detached ? undefined : req.signal };
  if ((req.headers.get('content-type') ?? '').startsWith('application/json')) {
    return operationResponse(req, await importImage.start(principal, await readJson(req), opts));
  }
  // an upload: check the parameters first, so a wrong name costs no transfer
  const q = new URL(req.url).searchParams;
  const input = { name: q.get('name') ?? undefined, format: q.get('format') ?? undefined, firmware: q.get('firmware') ?? undefined };
  importImageSchema.parse({ ...input, disk: 'upload' });
  if (!req.body) throw new EngineError('invalid', 'The upload is empty; send the disk image as the request body.');
  const room = importRoom();
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > room) {
    throw new EngineError('insufficient', `The upload (${mib(declared)}) does not fit: only ${mib(room)} is free for images; free some space and upload again.`);
  }
  const tmp = uploadTempPath();
  let handedOver = false; // the import operation removes the upload when it ends
  try {
    let seen = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > room) cb(new EngineError('insufficient', `The upload does not fit: only ${mib(room)} is free for images; free some space and upload again.`));
        else cb(null, chunk);
      },
    });
    try {
      // opened here, at once and exclusively: a stream opening its file later could create it after a
      // cut-off upload's clean-up below had already run (seen in CI), and 'wx' never follows a planted link
      const out = fs.createWriteStream(tmp, { fd: fs.openSync(tmp, 'wx', 0o600) });
      await pipeline(Readable.fromWeb(req.body as import('node:stream/web').ReadableStream), limit, out, { signal: req.signal });
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError('invalid', `The upload was cut off (${(e as Error).message}); nothing was kept, upload again.`);
    }
    // a body that ended early (a client gone without the stream erroring) must not be imported as a shorter disk
    if (Number.isFinite(declared) && seen !== declared) {
      throw new EngineError('invalid', `The upload was cut off after ${seen} of ${declared} bytes; nothing was kept, upload again.`);
    }
    const op = await importUploadedImage.start(principal, { ...input, disk: tmp }, opts);
    handedOver = true;
    void op.promise.catch(() => undefined).finally(() => fs.rmSync(tmp, { force: true }));
    return await operationResponse(req, op);
  } finally {
    if (!handedOver) fs.rmSync(tmp, { force: true });
  }
});
