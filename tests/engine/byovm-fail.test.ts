// Issue 14, against real QEMU (TCG): a disk without the guest agent (the foreign networkd disk with
// qemu-guest-agent masked) and a disk that does not boot (a partition table, no boot loader) fail the
// prepare after a bounded wait with one sentence naming what was seen and what to do, leaving no
// QEMU, template, parent row, lease or run dir behind.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPids, setupEnv, teardownEnv, type EngineEnv } from './engine-env';
import { foreignDisks } from '../fixtures/foreign/disks';
import { importImageSchema, prepareSchema } from '../../lib/validations';

// the foreign disks are built as root (debootstrap, chroot, a loop mount): CI runs as root
const run = process.getuid?.() === 0;
let env: EngineEnv;
let E: typeof import('../../lib/engine/index');
let engine: InstanceType<typeof E.Engine>;
let db: typeof import('../../lib/db').db;
let disks: { noagent: string };

/** Nothing of a failed prepare may remain: QEMU, template rows, parent rows, leases, run dirs. */
async function assertNothingLeft(name: string) {
  expect(qemuPids(env.run)).toEqual([]);
  expect(await db().template.findMany({ where: { name } })).toEqual([]);
  expect(await db().vm.findMany({ where: { name: `${name}.parent` } })).toEqual([]);
  expect(await db().lease.findMany()).toEqual([]);
  for (const d of ['templates', 'vms']) {
    const dir = path.join(env.run, d);
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : [], dir).toEqual([]);
  }
  expect(fs.existsSync(path.join(env.home, 'templates')) ? fs.readdirSync(path.join(env.home, 'templates')) : []).toEqual([]);
}

beforeAll(async () => {
  if (!run) return;
  disks = foreignDisks('noagent');
  env = setupEnv('byovmfail');
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  db = dbm.db;
  E = await import('../../lib/engine/index');
  engine = E.Engine.get();
  await engine.start();
}, 1_500_000);

afterAll(async () => {
  if (env) await teardownEnv(env);
}, 120_000);

describe.runIf(run)('disks that cannot be prepared (issue 14)', () => {
  it('a disk without the guest agent fails after the boot timeout, says what to do and leaves nothing', async () => {
    await engine.importImage(importImageSchema.parse({ name: 'noga', disk: disks.noagent }));
    const err: any = await engine.prepare(prepareSchema.parse({ image: 'noga', name: 'noga-t', memory: 512, bootTimeout: 60 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(E.EngineError);
    expect(err.message).toMatch(/no guest agent answered within 60 s/);
    expect(err.message).toMatch(/apt-get install qemu-guest-agent/);
    expect(err.message).toMatch(/dnf install qemu-guest-agent/);
    expect(err.message).toMatch(/a picture of its screen is in \S+\.png/);
    await assertNothingLeft('noga-t');
  });

  it('a disk that does not boot fails the same way and leaves nothing', async () => {
    const raw = path.join(path.dirname(env.home), 'blank.raw');
    execFileSync('truncate', ['-s', '64M', raw], { timeout: 60_000 });
    execFileSync('sh', ['-c', `printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q ${raw}`], { timeout: 60_000 });
    await engine.importImage(importImageSchema.parse({ name: 'blank', disk: raw, format: 'raw' }));
    const err: any = await engine.prepare(prepareSchema.parse({ image: 'blank', name: 'blank-t', memory: 128, bootTimeout: 15 })).catch((e: unknown) => e);
    expect(err.message).toMatch(/did not become ready: no guest agent answered within 15 s after power-on \(it wrote nothing to its serial console; a picture of its screen is in /);
    await assertNothingLeft('blank-t');
    await engine.removeImage('blank');
  });
});
