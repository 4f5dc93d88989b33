// Issue 14: importing an operator's disk, against the real qemu-img (no guest is booted). Every
// refusal is one sentence and leaves no image file, partial file or database row; a good raw, vmdk
// or qcow2 becomes a clean standalone qcow2 owned by Instaclone.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupEnv, teardownEnv, testAdmin, type EngineEnv } from './engine-env';
import { importImageSchema } from '../../lib/validations';

let env: EngineEnv;
let engine: import('../../lib/engine').Engine;
let db: typeof import('../../lib/db').db;
let dir: string;
const img = (...a: string[]) => execFileSync('qemu-img', a, { timeout: 60_000, stdio: 'pipe' });

/** A small bootable-looking raw disk: an MBR partition table and random data. */
function rawDisk(file: string, mib = 8) {
  execFileSync('sh', ['-c', `head -c ${mib}M /dev/urandom > ${file} && printf 'label: dos\\nstart=1, type=83\\n' | sfdisk -q ${file}`], { timeout: 60_000 });
}

/** Raw input goes through the service layer (the one door that parses it), as REST and server actions do. */
async function refused(input: Record<string, unknown>, re: RegExp, code = 'invalid') {
  const before = await db().image.count();
  const { importImage } = await import('../../lib/services/images');
  const err: any = await importImage(testAdmin, input).catch((e: unknown) => e);
  expect(err?.code, String(err?.message)).toBe(code);
  expect(err.message).toMatch(re);
  expect(err.message.split(/\.\s/).length).toBeLessThanOrEqual(3); // one sentence (a hint may follow a semicolon)
  expect(await db().image.count()).toBe(before);
  const left = fs.existsSync(path.join(env.home, 'images', 'imported')) ? fs.readdirSync(path.join(env.home, 'images', 'imported')) : [];
  expect(left.filter((f) => f.startsWith('.'))).toEqual([]);
}

beforeAll(async () => {
  env = setupEnv('import');
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  db = dbm.db;
  const E = await import('../../lib/engine/index');
  engine = E.Engine.get();
  await engine.start();
  dir = path.join(path.dirname(env.home), 'src');
  fs.mkdirSync(dir);
}, 60_000);

afterAll(async () => {
  if (env) await teardownEnv(env);
}, 60_000);

describe('images import (issue 14)', () => {
  it('imports raw, vmdk and qcow2 disks as clean standalone qcow2 images', async () => {
    const raw = path.join(dir, 'a.raw');
    rawDisk(raw);
    const a = await engine.importImage(importImageSchema.parse({ name: 'a-raw', disk: raw }));
    expect(a).toMatchObject({ name: 'a-raw', format: 'raw', firmware: 'bios', virtualSizeBytes: 8 << 20 });
    expect(new Date(a.importedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    img('convert', '-f', 'raw', '-O', 'vmdk', raw, path.join(dir, 'b.vmdk'));
    const b = await engine.importImage(importImageSchema.parse({ name: 'b-vmdk', disk: path.join(dir, 'b.vmdk'), firmware: 'uefi' }));
    expect(b).toMatchObject({ format: 'vmdk', firmware: 'uefi' });
    img('convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(dir, 'c.qcow2'));
    const c = await engine.importImage(importImageSchema.parse({ name: 'c-qcow2', disk: path.join(dir, 'c.qcow2'), format: 'qcow2' }));
    expect(c.format).toBe('qcow2');
    for (const n of ['a-raw', 'b-vmdk', 'c-qcow2']) {
      const f = path.join(env.home, 'images', 'imported', `${n}.qcow2`);
      const info = JSON.parse(img('info', '--output=json', '-U', f).toString());
      expect(info.format).toBe('qcow2');
      expect(info['backing-filename']).toBeUndefined();
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    }
    // the same bytes came through
    const out = path.join(dir, 'back.raw');
    img('convert', '-O', 'raw', path.join(env.home, 'images', 'imported', 'b-vmdk.qcow2'), out);
    expect(fs.readFileSync(out).equals(fs.readFileSync(raw))).toBe(true);
    const { images } = await engine.images();
    expect(images.filter((i: any) => i.source === 'imported').map((i: any) => i.name)).toEqual(['a-raw', 'b-vmdk', 'c-qcow2']);
    expect(images.find((i: any) => i.name === 'tiny')).toMatchObject({ source: 'builtin' });
  });

  it('refuses a qcow2 with a backing file or an external data file, without opening what they name', async () => {
    const secret = path.join(dir, 'secret.raw');
    rawDisk(secret, 1);
    img('create', '-q', '-f', 'qcow2', '-b', secret, '-F', 'raw', path.join(dir, 'backed.qcow2'));
    await refused({ name: 'backed', disk: path.join(dir, 'backed.qcow2') }, /refers to other files \(backing file .*secret\.raw\).*flatten it/);
    img('create', '-q', '-f', 'qcow2', '-o', `data_file=${secret}`, path.join(dir, 'ext.qcow2'), '1M');
    await refused({ name: 'ext', disk: path.join(dir, 'ext.qcow2') }, /external data file .*flatten it/);
    // a VMDK text descriptor names extent files that qemu-img would open at once (even for `info`):
    // refused before any qemu-img reads it
    const desc = ['# Disk DescriptorFile', 'version=1', 'CID=fffffffe', 'parentCID=ffffffff', 'createType="monolithicFlat"', `RW 2048 FLAT "${secret}" 0`, ''].join('\n');
    fs.writeFileSync(path.join(dir, 'desc.vmdk'), desc + '\n'.repeat(600));
    await refused({ name: 'desc', disk: path.join(dir, 'desc.vmdk') }, /VMDK descriptor that refers to other files/);
    await refused({ name: 'desc2', disk: path.join(dir, 'desc.vmdk'), format: 'vmdk' }, /VMDK descriptor that refers to other files/);
  });

  it('refuses a file that is not a disk, a truncated qcow2, a wrong format and a missing file', async () => {
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello\n'.repeat(200));
    await refused({ name: 'notes', disk: path.join(dir, 'notes.txt') }, /is not a disk image: it has no partition table/);
    const raw = path.join(dir, 't.raw');
    rawDisk(raw);
    img('convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(dir, 't.qcow2'));
    fs.truncateSync(path.join(dir, 't.qcow2'), 4 << 20);
    await refused({ name: 'trunc', disk: path.join(dir, 't.qcow2') }, /damaged or truncated qcow2 image/);
    await refused({ name: 'wrongfmt', disk: raw, format: 'vdi' }, /is not a readable vdi image/);
    await refused({ name: 'missing', disk: path.join(dir, 'nope.img') }, /cannot be read \(ENOENT\)/, 'not_found');
    await refused({ name: 'adir', disk: dir }, /is not a regular file/);
    // another VM's or image's disk inside Instaclone's own state is never importable
    await refused({ name: 'own', disk: path.join(env.home, 'images', 'imported', 'a-raw.qcow2') }, /inside Instaclone's own state/);
  });

  it('refuses a name that clashes, a built-in name and a bad name', async () => {
    const raw = path.join(dir, 'n.raw');
    rawDisk(raw, 1);
    await refused({ name: 'a-raw', disk: raw }, /already exists/, 'conflict');
    await refused({ name: 'tiny', disk: raw }, /built-in image/);
    await refused({ name: '../x', disk: raw }, /lower-case letters/);
  });

  it.runIf(process.getuid?.() === 0)('refuses an image larger than the free space (a small tmpfs: root), and a cancelled import keeps nothing', async () => {
    const imported = path.join(env.home, 'images', 'imported');
    // a small file system for the imported images (root: tmpfs mount), so "full" is cheap to reach
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=300M', 'tmpfs', imported], { timeout: 60_000 });
    try {
      const big = path.join(dir, 'big.raw');
      rawDisk(big, 200);
      await refused({ name: 'big', disk: big }, /needs about 20\d MiB .* but only \d+ MiB is free/, 'insufficient');
      const ac = new AbortController();
      const p = engine.importImage(importImageSchema.parse({ name: 'cut', disk: path.join(dir, 'a.raw') }), { signal: ac.signal }).catch((e: unknown) => e);
      ac.abort();
      const err: any = await p;
      expect(err.message).toMatch(/cancelled|aborted/i);
      expect(fs.readdirSync(imported)).toEqual([]);
      expect(await db().image.findUnique({ where: { name: 'cut' } })).toBeNull();
    } finally {
      execFileSync('umount', [imported], { timeout: 60_000 });
    }
  });

  it('REST: a disk streamed as the request body is imported; a cut-off upload keeps nothing', async () => {
    const { POST } = await import('../../app/api/v1/images/route');
    const { createToken } = await import('../../lib/auth/tokens');
    const tok = await createToken('upload', 'operator');
    const raw = path.join(dir, 'up.raw');
    rawDisk(raw, 4);
    const data = fs.readFileSync(raw);
    const post = (body: ReadableStream, q: string) =>
      POST(new Request(`http://console.test/api/v1/images?${q}`, { method: 'POST', body, duplex: 'half', headers: { host: 'console.test', authorization: `Bearer ${tok.secret}`, 'content-type': 'application/octet-stream' } } as RequestInit));
    const chunks = (fail: boolean) =>
      new ReadableStream({
        start(c) {
          for (let i = 0; i < data.length; i += 1 << 20) c.enqueue(data.subarray(i, i + (1 << 20)));
          if (fail) c.error(new Error('connection reset'));
          else c.close();
        },
      });
    const ok = await post(chunks(false), 'name=up&format=raw');
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'up', format: 'raw', virtualSizeBytes: 4 << 20 });
    const bad = await post(chunks(true), 'name=up2');
    expect(bad.status).toBe(422);
    expect((await bad.json()).error).toMatch(/upload was cut off.*nothing was kept/);
    expect(fs.readdirSync(path.join(env.home, 'images', 'imported')).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(await db().image.findUnique({ where: { name: 'up2' } })).toBeNull();
  });

  it('removes an imported image (file and row)', async () => {
    await engine.removeImage('c-qcow2');
    expect(fs.existsSync(path.join(env.home, 'images', 'imported', 'c-qcow2.qcow2'))).toBe(false);
    expect(await db().image.findUnique({ where: { name: 'c-qcow2' } })).toBeNull();
    const err: any = await engine.removeImage('tiny').catch((e: unknown) => e);
    expect(err.code).toBe('conflict');
  });
});
