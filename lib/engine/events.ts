// The events the engine sends on its one stream (/api/events), defined once: the engine emits these
// types (Core.emit), the route sends them, the console parses them (parseStreamEvent: an unknown or
// malformed event is dropped, not crashed on) and its query-key map has one entry per kind
// (lib/client/query-keys.ts eventTouches). The serial console's own stream is typed here as well.
// Pure: zod and the state unions only (client bundles import this file).
import { z } from 'zod';
import { TEMPLATE_STATES, VM_STATES } from './states';

const id = z.string().min(1);

/** A VM (or parent) changed: its new state, or `removed`. A claim adds the pool and who claimed it. */
export const vmEventSchema = z.object({
  type: z.literal('vm'),
  id,
  name: z.string().optional(),
  state: z.enum([...VM_STATES, 'removed']),
  pid: z.number().nullable().optional(),
  templateId: z.string().nullable().optional(),
  persistent: z.boolean().optional(),
  pool: z.string().optional(),
  claimedBy: z.string().optional(),
});

/** A template began preparing, froze, or was removed. */
export const templateEventSchema = z.object({
  type: z.literal('template'),
  id,
  name: z.string().optional(),
  state: z.enum([...TEMPLATE_STATES, 'removed']),
});

/**
 * A task (an operation's work) began, reached a step, or ended. `at` and `step`/`message` are the
 * line the engine adds to its log (taskLogLine), so a follower's log matches the row's.
 */
export const taskEventSchema = z.object({
  type: z.literal('task'),
  id,
  kind: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  progress: z.number().optional(),
  step: z.string().optional(),
  message: z.string().optional(),
  at: z.string().optional(),
  targetId: z.string().nullable().optional(),
  targetName: z.string().nullable().optional(),
  result: z.unknown().optional(),
  error: z.string().optional(),
});

/** A pool changed: created (active), a claim, a release, a push, its keeper refilling, removal. */
export const poolEventSchema = z.object({
  type: z.literal('pool'),
  id,
  name: z.string(),
  state: z.enum(['active', 'removing', 'removed']).optional(),
  claimed: z.string().optional(),
  claimMs: z.number().optional(),
  releasing: z.string().optional(),
  push: z.string().optional(),
  refilling: z.number().optional(),
});

/** A template's slot lost its prelaunched VMM (it exited or was not there at start-up): a fork from it spawns afresh. */
export const slotEventSchema = z.object({
  type: z.literal('slot'),
  id,
  templateId: z.string(),
  state: z.enum(['registered', 'removed']),
});

export const engineEventSchema = z.discriminatedUnion('type', [vmEventSchema, templateEventSchema, taskEventSchema, poolEventSchema, slotEventSchema]);
export type EngineEvent = z.infer<typeof engineEventSchema>;
export type EngineEventKind = EngineEvent['type'];
export type VmEvent = z.infer<typeof vmEventSchema>;
export type TaskEvent = z.infer<typeof taskEventSchema>;
export type PoolEvent = z.infer<typeof poolEventSchema>;
/** What a pool event says beyond which pool it is. */
export type PoolChange = Omit<PoolEvent, 'type' | 'id' | 'name'>;

/** The stream's own frames: `hello` on connect, `ping` to keep it open. Carry no state. */
const frame = <K extends string>(type: K) => z.object({ type: z.literal(type), at: z.number() });
export const streamEventSchema = z.discriminatedUnion('type', [...engineEventSchema.options, frame('hello'), frame('ping')]);
export type StreamEvent = z.infer<typeof streamEventSchema>;

/** One `data:` line of /api/events, or null for anything this console does not know (a newer server's kind, junk). */
export function parseStreamEvent(data: string): StreamEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  const r = streamEventSchema.safeParse(raw);
  return r.success ? r.data : null;
}

/** The line a task adds to its log for a step (the row's `log`, and a follower's copy of it). */
export function taskLogLine(at: string, step: string, message?: string): string {
  return `${at} ${step}${message ? `: ${message}` : ''}\n`;
}

/** The serial console's stream (GET /api/v1/vms/VM/serial): output, or `reset` (start over: a new log). */
export const serialChunkSchema = z.union([z.object({ data: z.string() }), z.object({ reset: z.literal(true) })]);
export type SerialChunk = z.infer<typeof serialChunkSchema>;

export function parseSerialChunk(data: string): SerialChunk | null {
  try {
    const r = serialChunkSchema.safeParse(JSON.parse(data));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
