// Kill the engine's process (SIGKILL) in the middle of a 10-child fork, start a new engine on the
// same database: every child is either running and adopted or cleaned up, and the database
// matches the QEMU processes that really run under INSTACLONE_RUN; the fork's operation ends as
// failed, interrupted by the restart, naming the children it left.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPids, runEntries, setupEnv, teardownEnv } from './engine-env';
import { execSchema, forkSchema } from '../../lib/validations';

const env = setupEnv('restart');
const fixture = path.join(import.meta.dirname, 'fixtures', 'fork-and-die.ts');
const root = path.resolve(import.meta.dirname, '../..');

function runFixture(arg: string, killWhen?: (line: string) => boolean): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    // one process (node with the tsx loader), so SIGKILL really kills the engine
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, arg], { cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let running = 0;
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line) continue;
        out += line + '\n';
        if (/^VM .* running$/.test(line)) running++;
        if (killWhen && killWhen(`${line} #${running}`)) child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

beforeAll(async () => {
  const { migrate } = await import('../../lib/db');
  await migrate();
});

afterAll(async () => {
  await teardownEnv(env);
  expect(qemuPids(env.run)).toEqual([]);
});

describe('engine restart in the middle of a fork', () => {
  it('adopts or cleans every child and the database matches the running QEMUs', async () => {
    const prep = await runFixture('prepare');
    expect(prep.out).toContain('PREPARED');
    // kill once 3 children are running (the others are mid-launch / mid-load / mid-identity)
    const r = await runFixture('fork', (l) => /#3$/.test(l) && /running/.test(l));
    expect(r.signal).toBe('SIGKILL');
    expect(r.out).not.toContain('FORKED');
    const opId = r.out.match(/^OPERATION (\S+)$/m)?.[1];
    expect(opId).toBeTruthy();

    const { Engine } = await import('../../lib/engine');
    const { db } = await import('../../lib/db');
    const e = Engine.get();
    const rec = await e.start();
    const vms = await db().vm.findMany();
    const slots = await db().slot.findMany();
    console.log('RECONCILE', JSON.stringify(rec), 'vms', vms.map((v) => `${v.name}:${v.state}`).join(' '));
    // every VM row is running with a live QEMU (adopted); nothing half-made remains
    for (const v of vms) expect(v.state).toBe('running');
    expect(rec.adopted.sort()).toEqual(vms.map((v) => v.id).sort());
    expect(vms.length).toBeGreaterThanOrEqual(3);
    // the operation cut short is failed with the reason and what it left; nothing stays "running"
    expect(rec.interrupted).toEqual([opId]);
    expect(await db().task.count({ where: { state: 'running' } })).toBe(0);
    const op = await e.operation(opId!);
    expect(op).toMatchObject({ kind: 'fork', state: 'failed' });
    expect(op!.error).toMatch(/^Interrupted by a restart of the console; it left \d+ running child\(ren\) adopted \(/);
    for (const v of vms) expect(op!.error).toContain(v.name);
    expect(op!.endedAt).not.toBeNull();
    console.log('INTERRUPTED', op!.error);
    const dbPids = [...vms.map((v) => v.pid), ...slots.map((s) => s.pid)].filter(Boolean).sort();
    expect(qemuPids(env.run).sort()).toEqual(dbPids);
    expect(runEntries(env)).toEqual([...vms.map((v) => v.id), ...slots.map((s) => s.id)].sort());
    // adopted children still work, and forking again works
    for (const v of vms) {
      const x = await e.exec(v.name, execSchema.parse({ command: ['/bin/hostname'] }));
      expect(x.stdout.trim()).toBe(v.name);
    }
    const f = await e.fork('crash', forkSchema.parse({ count: 1 }));
    expect(f.children[0].state).toBe('running');
    const leases = await db().lease.findMany();
    expect(leases.map((l) => l.vmId).sort()).toEqual((await db().vm.findMany()).map((v) => v.id).concat(slots.map((s) => s.id)).filter((id) => leases.some((l) => l.vmId === id)).sort());
  });
});
