// Experiment (issue 14): where a child's identity time goes on an imported systemd disk (stock
// qemu-guest-agent path). Keeps ONE prepared template in a fixed home between invocations, so code
// versions can be compared in alternation on the same template:
//   npx tsx bench/experiments/stock-identity.ts [children=2] [variant=networkd] [--ssh]   (EXP_DISK=FILE: use that disk)
// prints per child: identity wall ms, CPU ms of its QEMU, agent calls, phases and in-guest steps.
// `--clean` removes the template and its home.  (Run as root: the disks are built with debootstrap.)
import fs from 'node:fs';
import path from 'node:path';
import { forkSchema, importImageSchema, prepareSchema } from '../../lib/validations';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const count = Number(args[0] ?? 2);
const variant = (args[1] ?? 'networkd') as 'networkd' | 'nm' | 'ifupdown';
const base = `/tmp/ic-exp-identity-${variant}`;
const run = `/dev/shm/ic-exp-identity-${variant}`;
if (process.argv.includes('--clean')) {
  const { qemuPidsUnder, killQemu } = await import('../../lib/engine/process');
  for (const pid of qemuPidsUnder(run)) await killQemu(pid, run).catch(() => undefined);
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(run, { recursive: true, force: true });
  process.exit(0);
}
fs.mkdirSync(base, { recursive: true, mode: 0o711 });
fs.chmodSync(base, 0o711); // the per-VM QEMU uids pass through it
process.env.INSTACLONE_HOME = path.join(base, 'home');
process.env.INSTACLONE_RUN = run;
process.env.DATABASE_URL = `file:${path.join(base, 'home', 'db.sqlite')}`;
fs.mkdirSync(process.env.INSTACLONE_HOME, { recursive: true });

const dbm = await import('../../lib/db');
await dbm.migrate();
const { Engine } = await import('../../lib/engine/index');
const engine = Engine.get();
await engine.start();
try {
  const tpl = `exp-${variant}`;
  if (!(await engine.get(tpl).catch(() => null))) {
    const { foreignDisks } = await import('../../tests/fixtures/foreign/disks');
    const disk = process.env.EXP_DISK || foreignDisks(variant)[variant]; // EXP_DISK: an already built disk
    await engine.importImage(importImageSchema.parse({ name: `img-${variant}`, disk }));
    const p = await engine.prepare(prepareSchema.parse({ image: `img-${variant}`, name: tpl, memory: 512, bootTimeout: 900 }));
    console.log(`prepared ${tpl}: boot to agent ${Math.round(p.timings.bootMs)} ms`);
  }
  const r: any = await engine.fork(tpl, forkSchema.parse({ count, prefix: `x${Date.now() % 100000}`, sshKeys: process.argv.includes('--ssh') }));
  for (const c of r.children) {
    const v: any = await engine.get(c.id);
    const d = r.details.find((x: any) => x.name === c.name);
    console.log(JSON.stringify({ name: c.name, identityMs: d.identityMs, agentMs: d.agentMs, cpuMs: d.cpuMs, calls: v.verified.agentCalls, phases: v.verified.phasesMs, steps: v.verified.guestSteps, ip: v.verified.ip }));
    await engine.remove(c.id, { force: true });
  }
} finally {
  await engine.shutdown({ killAll: true });
  await dbm.disconnectDb();
}
