// Input schemas for pools, shared by the console's forms, the REST API and the CLI.
import { z } from 'zod';
import { hostNameSchema, requestIdSchema } from './hosts';
import { nameSchema } from './index';

export const POOL_LIMITS = {
  maxSize: 500,
  maxWaitSeconds: 300, // under undici's 300 s headers timeout, so the CLI's fetch never gives up first
  maxTtlSeconds: 30 * 24 * 3600,
  maxLabel: 200,
} as const;

const whole = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number.` })
    .refine((n) => Number.isInteger(n), `${what} must be a whole number.`)
    .refine((n) => n >= min, `${what} must be at least ${min}.`)
    .refine((n) => n <= max, `${what} must be at most ${max}.`);

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90", 90, "90s", "15m", "2h", "1d" -> seconds. */
export const durationSchema = z
  .union([z.number(), z.string()], { error: 'The TTL must be a duration such as 90s, 15m, 2h or 1d.' })
  .transform((v, ctx) => {
    const m = typeof v === 'number' ? [String(v), String(v), 's'] : /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(v);
    const secs = m ? Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()] : NaN;
    if (!Number.isInteger(secs) || secs < 1 || secs > POOL_LIMITS.maxTtlSeconds) {
      ctx.addIssue({ code: 'custom', message: `The TTL must be a duration such as 90s, 15m, 2h or 1d, between 1 s and ${POOL_LIMITS.maxTtlSeconds / 86400} days.` });
      return z.NEVER;
    }
    return secs;
  });

export const onReleaseSchema = z.enum(['reset', 'delete'], { error: 'On release is "reset" (back to a spare) or "delete" (fork a fresh spare).' });

export const poolCreateSchema = z
  .object({
    name: nameSchema,
    template: z.string({ error: 'A pool needs a template: --template T.' }).trim().min(1, 'A pool needs a template: --template T.'),
    size: whole('The pool size', 1, POOL_LIMITS.maxSize),
    spares: whole('The number of spares', 0, POOL_LIMITS.maxSize).optional(),
    onRelease: onReleaseSchema.default('reset'),
    ttl: durationSchema.optional(),
    /** many hosts: keep every spare on this host (replicated there first) */
    host: hostNameSchema.optional(),
  })
  .transform((p) => ({ ...p, spares: p.spares ?? Math.min(2, p.size) }))
  .refine((p) => p.spares <= p.size, { message: 'The number of spares cannot be more than the pool size: lower --spares or raise --size.', path: ['spares'] });
export type PoolCreateInput = z.infer<typeof poolCreateSchema>;

export const poolResizeSchema = z
  .object({
    size: whole('The pool size', 1, POOL_LIMITS.maxSize).optional(),
    spares: whole('The number of spares', 0, POOL_LIMITS.maxSize).optional(),
  })
  .refine((p) => p.size !== undefined || p.spares !== undefined, { message: 'Give --size N, --spares K or both.' });
export type PoolResizeInput = z.infer<typeof poolResizeSchema>;

export const poolClaimSchema = z.object({
  label: z.string().trim().max(POOL_LIMITS.maxLabel, `A claim label has at most ${POOL_LIMITS.maxLabel} characters.`).optional(),
  wait: z
    .number({ error: 'The wait must be a number of seconds.' })
    .refine((n) => n >= 0 && n <= POOL_LIMITS.maxWaitSeconds, `The wait must be between 0 and ${POOL_LIMITS.maxWaitSeconds} seconds.`)
    .optional(),
  /** a retry with the same id (same user) gets the same child instead of a second one */
  requestId: requestIdSchema.optional(),
});
export type PoolClaimInput = z.infer<typeof poolClaimSchema>;

export const poolPushSchema = z.object({
  template: z.string({ error: 'A push needs the new template: --template T2.' }).trim().min(1, 'A push needs the new template: --template T2.'),
});
export type PoolPushInput = z.infer<typeof poolPushSchema>;
