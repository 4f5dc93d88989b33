// The console's road, click to QEMU, against real QEMU: server actions (with an operator's session
// cookie; next/headers mocked) → services → engine. Prepare, fork, exec, serial typing, reset, live fork
// and bulk delete each go through their action; the predicates that decide the console's buttons are the
// engine's guards (a persistent child's Reset is refused in the same words); and a template made from a
// running child hangs under that child in the console's lineage tree (lib/client/lineage.ts) built from
// what the engine lists. The long actions (prepare, fork, live fork) answer their operation's id at
// once; it is followed over the console's event stream to its result. At most two guests run at once.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { qemuPids, setupEnv, teardownEnv } from './engine-env';
import { openEventStream } from '../event-stream';
import type { ActionResult, Started } from '../../lib/api/action';

const env = setupEnv('actions');
const jar = new Map<string, string>();
vi.mock('next/headers', () => ({ cookies: async () => ({ get: (n: string) => (jar.has(n) ? { name: n, value: jar.get(n) } : undefined) }) }));

let vms: typeof import('../../app/actions/vms');
let templates: typeof import('../../app/actions/templates');
let Engine: typeof import('../../lib/engine').Engine;
let as: (role: 'viewer' | 'operator') => Promise<string>;
let closeStream = () => {};

/** The action's data, or a failed test that shows the action's sentence. */
function data<T>(r: { ok: true; data: T } | { ok: false; error: string }): T {
  if (!r.ok) throw new Error(`action refused: ${r.error}`);
  return r.data;
}

beforeAll(async () => {
  const dbm = await import('../../lib/db');
  await dbm.migrate();
  ({ Engine } = await import('../../lib/engine'));
  await Engine.get().start();
  const { startSession, SESSION_COOKIE } = await import('../../lib/auth/sessions');
  as = async (role) => {
    const id = (await startSession(`${role}-1`, role)).id;
    jar.set(SESSION_COOKIE, id);
    return id;
  };
  vms = await import('../../app/actions/vms');
  templates = await import('../../app/actions/templates');
}, 240_000);

afterAll(async () => {
  closeStream();
  await teardownEnv(env);
  expect(qemuPids(env.run)).toEqual([]);
});

describe('server actions drive the engine (real QEMU)', () => {
  it('prepare, fork, exec, serial, reset, live fork and bulk delete, each through its action; the tree shows child → template', async () => {
    const stream = await openEventStream(await as('operator'));
    closeStream = stream.close;
    /** the operation an action started, followed on the stream to its end: its result, or its error thrown */
    const follow = async <T,>(r: ActionResult<Started<T>>): Promise<T> => {
      const { operationId: id } = data(r);
      const end = await stream.ended(id, 240_000);
      if (end.state !== 'succeeded') throw new Error(`operation ${id} failed: ${end.error}`);
      return end.result as T;
    };
    const prepared = await templates.prepareAction({ image: 'tiny', name: 'web', quiesce: true });
    const tpl = await follow(prepared);
    expect(tpl).toMatchObject({ name: 'web', state: 'frozen', quiesced: true });
    // from its id to its end: the prepare's steps in order, each once reached, on the stream the console reads
    const steps = [...new Set(stream.of(data(prepared).operationId).flatMap((e) => (e.step ? [e.step] : [])))];
    expect(steps).toEqual(['boot', 'warmup', 'freeze', 'slots']);

    // a persistent child: the console offers no Reset, and the engine refuses it in the same words
    const { vmActionBlocked } = await import('../../lib/engine/states');
    const p = (await follow(await templates.forkAction({ ref: 'web', count: 1, persistent: true, prefix: 'keep' }))).children[0];
    const pRow = (await Engine.get().list()).vms.find((v) => v.id === p.id)!;
    const why = vmActionBlocked(pRow, 'reset');
    expect(why).toMatch(/is persistent: its disk has diverged/);
    expect(await vms.resetVmAction({ ref: p.name })).toEqual({ ok: false, code: 'conflict', error: why });
    expect(data(await vms.removeVmAction({ ref: p.name, force: true }))).toMatchObject({ removed: true });

    const child = (await follow(await templates.forkAction({ ref: 'web', count: 1, prefix: 'a' }))).children[0];
    expect(child.identity.hostname).toBe(child.name);
    expect(data(await vms.execAction({ ref: child.name, command: ['/bin/hostname'] })).stdout.trim()).toBe(child.name);
    expect(data(await vms.typeSerialAction({ ref: child.name, data: '\r' }))).toEqual({ ok: true });

    // a viewer's reset is refused and changes nothing; an operator's puts the child back
    await as('viewer');
    expect(await vms.resetVmAction({ ref: child.name })).toMatchObject({ ok: false, code: 'forbidden' });
    await as('operator');
    const pid = (await Engine.get().list()).vms.find((v) => v.name === child.name)?.pid;
    const reset = data(await vms.resetVmAction({ ref: child.name }));
    expect(reset).toMatchObject({ name: child.name, state: 'running' });
    expect(reset.pid).not.toBe(pid);
    // reset of many, as one operation: each VM's outcome, an unknown one failing alone
    const many = await follow(await vms.resetVmsAction({ refs: [child.name, 'no-such-vm'] }));
    expect(many.results).toMatchObject([{ ref: child.name, ok: true, vm: { name: child.name, state: 'running' } }, { ref: 'no-such-vm', ok: false, error: expect.stringMatching(/No VM named "no-such-vm"/) }]);

    // live fork of the running child: a template from that moment, under the child in the tree
    const live = await follow(await vms.liveForkAction({ ref: child.name, count: 1 }));
    expect(live.source).toMatchObject({ name: child.name });
    const ls = await Engine.get().list();
    const made = ls.templates.find((t) => t.name === live.template.name)!;
    expect(made.sourceVmId).toBe(child.id);
    const { buildLineage } = await import('../../lib/client/lineage');
    const roots = buildLineage(JSON.parse(JSON.stringify(ls))); // what the console receives: the same rows, over JSON
    const web = roots.find((n) => n.name === 'web')!;
    const childNode = web.children.find((n) => n.name === child.name)!;
    const tplNode = childNode.children.find((n) => n.name === live.template.name)!;
    expect(tplNode.kind).toBe('template');
    expect(tplNode.children.map((n) => n.name)).toEqual(live.children.map((c) => c.name));

    // bulk delete: one action, each VM's outcome reported; an unknown name is one failed item
    const names = [child.name, ...live.children.map((c) => c.name)];
    const bulk = data(await vms.bulkVmAction({ action: 'delete', refs: [...names, 'no-such-vm'] }));
    expect(bulk.results.map((r) => r.ok)).toEqual([true, true, false]);
    expect(bulk.results[2]).toMatchObject({ ref: 'no-such-vm', error: expect.stringMatching(/No VM or template named "no-such-vm"/) });
    expect((await Engine.get().list()).vms).toEqual([]);
    // what still runs is the templates' reset spares (spare.ts), which live until their template goes
    await Engine.get().settled();
    const spares = new Set(Engine.get().spares().map((s) => s.pid));
    expect(qemuPids(env.run).filter((p) => !spares.has(p))).toEqual([]);
  }, 400_000);
});
