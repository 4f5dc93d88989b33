// The shared pool schemas: what the UI, REST and CLI accept, and the one sentence each refusal gives.
import { describe, expect, it } from 'vitest';
import { describeZodError } from '../../lib/validations';
import { durationSchema, poolClaimSchema, poolCreateSchema, poolResizeSchema } from '../../lib/validations/pools';

const why = (r: { success: boolean; error?: import('zod').ZodError }) => (r.success ? null : describeZodError(r.error!));

describe('pool schemas', () => {
  it('parses TTL durations to seconds and refuses nonsense', () => {
    expect(durationSchema.parse('90')).toBe(90);
    expect(durationSchema.parse(90)).toBe(90);
    expect(durationSchema.parse('15m')).toBe(900);
    expect(durationSchema.parse('2h')).toBe(7200);
    expect(durationSchema.parse('1d')).toBe(86400);
    for (const bad of ['soon', '0', '-5s', '1.5h', '31d', '']) expect(durationSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('defaults spares and on-release; refuses spares above size, size 0 and unknown on-release', () => {
    expect(poolCreateSchema.parse({ name: 'p', template: 't', size: 5 })).toMatchObject({ spares: 2, onRelease: 'reset' });
    expect(poolCreateSchema.parse({ name: 'p', template: 't', size: 1 })).toMatchObject({ spares: 1 });
    expect(why(poolCreateSchema.safeParse({ name: 'p', template: 't', size: 2, spares: 3 }))).toMatch(/spares cannot be more than the pool size/);
    expect(why(poolCreateSchema.safeParse({ name: 'p', template: 't', size: 0 }))).toMatch(/pool size must be at least 1/);
    expect(why(poolCreateSchema.safeParse({ name: 'p', template: 't', size: 2, onRelease: 'keep' }))).toMatch(/"reset".*"delete"/);
    expect(why(poolCreateSchema.safeParse({ name: 'P!', template: 't', size: 2 }))).toMatch(/lower-case letters/);
    expect(why(poolCreateSchema.safeParse({ name: 'p', size: 2 }))).toMatch(/--template/);
  });

  it('claim and resize bounds', () => {
    expect(poolClaimSchema.parse({ wait: 30, label: ' x ' })).toEqual({ wait: 30, label: 'x' });
    expect(why(poolClaimSchema.safeParse({ wait: 301 }))).toMatch(/between 0 and 300 seconds/);
    expect(why(poolClaimSchema.safeParse({ label: 'x'.repeat(201) }))).toMatch(/at most 200/);
    expect(why(poolResizeSchema.safeParse({}))).toMatch(/Give --size N, --spares K or both/);
  });
});
