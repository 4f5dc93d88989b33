// A service is one console mutation (or read) behind every door: REST route, server action, tests.
// It checks the caller's role, parses the input once with the shared zod schema (a refusal is one
// EngineError 'invalid' sentence), then calls the engine with the typed result.
// Callers pass one plain object: the body's fields, plus `ref` (an id or name) for actions on one thing.
import { z } from 'zod';
import { require, type Principal, type Role } from '../auth';
import { Engine, type OpContext } from '../engine';
import { EngineError } from '../engine/errors';
import type { Operation } from '../engine/operations';
import { describeZodError } from '../validations';

/** Who is asking: a session's user, an API token, or the local admin token. */
export type Actor = Pick<Principal, 'kind' | 'name' | 'role' | 'tokenId'>;

/** An id or a unique name (DESIGN.md: VM, PARENT and TEMPLATE accept either). */
export const refSchema = z.string({ error: 'Name the VM or template (an id or a name).' }).trim().min(1, 'Name the VM or template (an id or a name).').max(200, 'A reference has at most 200 characters.');

export const noInput = z.object({});

type WithRef<S extends z.ZodType, HasRef extends boolean> = HasRef extends true ? z.output<S> & { ref: string } : z.output<S>;

export interface Service<S extends z.ZodType, R, HasRef extends boolean> {
  (actor: Actor | null, raw?: unknown): Promise<R>;
  readonly role: Role;
  readonly input: S;
}

export function service<S extends z.ZodType, R, HasRef extends boolean = false>(def: {
  role: Role;
  input: S;
  /** the action names one VM, template, pool or image: `ref` is read from the raw input */
  ref?: HasRef;
  run: (actor: Actor, input: WithRef<S, HasRef>) => Promise<R>;
}): Service<S, R, HasRef> {
  const call = async (actor: Actor | null, raw: unknown = {}) => {
    const who = require(actor as Principal | null, def.role); // before parsing: a viewer learns nothing from validation
    const parsed = def.input.safeParse(raw); // not an object: zod says so
    if (!parsed.success) throw new EngineError('invalid', describeZodError(parsed.error)); // the only parse: the engine takes typed input
    const input = parsed.data as Record<string, unknown>;
    const obj = raw as Record<string, unknown>;
    if (def.ref) {
      const r = refSchema.safeParse(obj.ref);
      if (!r.success) throw new EngineError('invalid', r.error.issues[0]?.message ?? 'Name the VM or template.');
      return def.run(who, { ...input, ref: r.data } as WithRef<S, HasRef>);
    }
    return def.run(who, input as WithRef<S, HasRef>);
  };
  return Object.assign(call, { role: def.role, input: def.input });
}

/** How a long action's caller waits: REST's `?wait=0` detaches; a waiting caller may cancel by going away. */
export interface LongOptions {
  detached?: boolean;
  signal?: AbortSignal;
  /** image import: `disk` is the route's temporary upload, not an operator's path */
  uploaded?: boolean;
}

export interface LongService<S extends z.ZodType, R, HasRef extends boolean> extends Service<S, R, HasRef> {
  /** Checks role and input, then starts the operation: its id at once, its result on `promise`. */
  start(actor: Actor | null, raw?: unknown, opts?: LongOptions): Promise<Operation<R>>;
}

/**
 * A long action (prepare, fork, live fork, image import, pool push) runs as an operation
 * (lib/engine/operations.ts): calling the service waits for the result, `start` answers the
 * operation's id at once (REST `?wait=0`, the CLI's --detach). Refusals of role or input come before
 * any operation exists; everything after is recorded on the operation.
 */
export function longService<S extends z.ZodType, R, HasRef extends boolean = false>(def: {
  role: Role;
  input: S;
  ref?: HasRef;
  kind: string;
  /** many hosts (lib/cluster/dispatch): the action done on an agent, or null to run it on this engine */
  route?: (actor: Actor, input: WithRef<S, HasRef>) => Promise<R | null>;
  run: (actor: Actor, input: WithRef<S, HasRef>, ctx: OpContext, opts: LongOptions) => Promise<R>;
}): LongService<S, R, HasRef> {
  const check = service<S, WithRef<S, HasRef>, HasRef>({ role: def.role, input: def.input, ref: def.ref, run: async (_a, input) => input });
  const start = async (actor: Actor | null, raw: unknown = {}, opts: LongOptions = {}) => {
    const input = await check(actor, raw);
    const who = actor as Actor;
    const o = input as { ref?: unknown; name?: unknown };
    const name = typeof o.ref === 'string' ? o.ref : typeof o.name === 'string' ? o.name : undefined;
    return Engine.get().startOperation(def.kind, who.name, async (ctx) => (def.route ? await def.route(who, input) : null) ?? def.run(who, input, ctx, opts), { name });
  };
  const call = async (actor: Actor | null, raw: unknown = {}) => (await start(actor, raw)).promise;
  return Object.assign(call, { role: def.role, input: def.input, start });
}
