// VM actions: power (start, stop, reset), remove, the bulk forms, exec, serial typing, live fork,
// pool release, and what the VM page reads. One function each, shared by REST and server actions.
import { needsRedaction, redactView } from '../auth/redact';
import path from 'node:path';
import { audit } from '../auth/audit';
import { Engine } from '../engine';
import { EngineError } from '../engine/errors';
import { paths } from '../engine/paths';
import { vmByRef } from '../engine/refs';
import { typeSerial as typeIntoSerial } from '../engine/serial';
import { vmActionBlocked } from '../engine/states';
import { execSchema } from '../validations';
import { clusterForkSchema } from '../validations/hosts';
import { bulkSchema, removeSchema, resetManySchema, serialTypeSchema } from '../validations/actions';
import { clusterActive, routeVmAction, routeVmLiveFork } from '../cluster/dispatch';
import { clusterRelease } from '../cluster/pools';
import { longService, noInput, service, type Actor } from './service';

const engine = () => Engine.get();

export const getVm = service({ role: 'viewer', input: noInput, ref: true, run: async (a, { ref }) => (needsRedaction(a) ? redactView(await engine().vm(ref)) : engine().vm(ref)) });

// many hosts: a VM that lives on an agent is acted on there (routeVmAction answers null otherwise)
// (the agent answers what its own engine's method returns, so the type is the local one's)
const onAgent = <T>(ref: string, action: 'stop' | 'start' | 'reset' | 'remove', actor: Actor, force = false) => routeVmAction(ref, action, actor.name, force) as Promise<T | null>;

export const startVm = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => (await onAgent<Awaited<ReturnType<Engine['startVm']>>>(ref, 'start', a)) ?? engine().startVm(ref, { actor: a.name }) });
export const stopVm = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => (await onAgent<Awaited<ReturnType<Engine['stop']>>>(ref, 'stop', a)) ?? engine().stop(ref, { actor: a.name }) });
export const resetVm = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => (await onAgent<Awaited<ReturnType<Engine['reset']>>>(ref, 'reset', a)) ?? engine().reset(ref, { actor: a.name }) });

/** Removes a VM or a template (refused while it has dependants, unless forced). */
export const removeVm = service({ role: 'operator', input: removeSchema, ref: true, run: async (a, { ref, force }) => (await onAgent<Awaited<ReturnType<Engine['remove']>>>(ref, 'remove', a, force)) ?? engine().remove(ref, { force, actor: a.name }) });

const one = { start: startVm, stop: stopVm, reset: resetVm } as const;

/** The same action on many VMs; each one's outcome is reported (allSettled), in the order given. */
export const bulkVms = service({
  role: 'operator',
  input: bulkSchema,
  run: async (a, { action, refs }) => {
    const settled = await Promise.allSettled(refs.map((ref) => (action === 'delete' ? removeVm(a, { ref, force: true }) : one[action](a, { ref }))));
    return {
      results: settled.map((s, i) => (s.status === 'fulfilled' ? { ref: refs[i], ok: true as const } : { ref: refs[i], ok: false as const, error: (s.reason as Error)?.message ?? String(s.reason) })),
    };
  },
});

/** Many VMs back to their template's state, as one operation (each VM's outcome in the result; on its own host). */
export const resetVms = longService({
  role: 'operator',
  input: resetManySchema,
  kind: 'reset',
  run: (a, { refs }, ctx) => engine().resetMany(refs, ctx, (ref) => onAgent(ref, 'reset', a)),
});

/** Runs a command in the guest through its agent (never through a shell on the host). */
export const execInVm = service({
  role: 'operator',
  input: execSchema,
  ref: true,
  run: (a, { ref, ...input }) => engine().exec(ref, input, { actor: a.name }),
});

/** Live fork: the running VM pauses briefly, a template is made from that moment, N children fork from it. */
export const liveForkVm = longService({
  role: 'operator',
  input: clusterForkSchema, // the live-fork schema, plus the host to pin and the retry id
  ref: true,
  kind: 'live-fork',
  route: (a, { ref, ...input }) => routeVmLiveFork(ref, input, a.name), // many hosts: on the agent that runs the VM
  run: (_a, { ref, host: _h, requestId: _r, ...input }, ctx) => engine().liveFork(ref, input, ctx),
});

/** `pool release VM`: reset back to a spare, or removed and replaced (the pool's on-release). */
export const releaseVm = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => ((await clusterActive()) && (await clusterRelease(ref, a.name))) || (await engine().pools()).release(ref, { actor: a.name }) });

// Typing is logged once per user, VM and TYPING_LOG_MS (not every keystroke, and never the keys:
// they may be a password).
const TYPING_LOG_MS = 5 * 60_000;
const typingLogged = new Map<string, number>();

export const typeSerial = service({
  role: 'operator',
  input: serialTypeSchema,
  ref: true,
  run: async (a: Actor, { ref, data }) => {
    const vm = await vmByRef(ref);
    const blocked = vmActionBlocked(vm, 'serial');
    if (blocked) throw new EngineError('conflict', blocked);
    // One kept-open connection per VM, writes queued in order (lib/engine/serial.ts says why).
    await typeIntoSerial(vm, path.join(vm.runDir, 'serial.sock'), data);
    const key = `${a.name}\0${vm.id}`;
    const now = Date.now();
    if (now - (typingLogged.get(key) ?? 0) > TYPING_LOG_MS) {
      typingLogged.set(key, now);
      await audit(a.name, 'serial.type', 'ok', { id: vm.id, name: vm.name }, 'typed into the serial console');
    }
    return { ok: true as const };
  },
});

/** The serial log file of a VM (the serial stream follows it); not_found when there is no such VM. */
export async function serialLogOf(ref: string): Promise<string> {
  return paths.vmSerialLog((await vmByRef(ref)).id);
}

/** A PNG picture of a running VM's screen (imported images have a display; parents too, during prepare). */
// operators and admins only: the screen shows what the guest prints (a viewer sees no guest output)
export const vmScreen = service({ role: 'operator', input: noInput, ref: true, run: (_a, { ref }) => engine().screen(ref) });
