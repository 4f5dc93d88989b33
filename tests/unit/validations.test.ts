import { describe, expect, it } from 'vitest';
import { describeZodError, forkSchema, liveForkSchema, nameSchema, prepareSchema } from '@/lib/validations';

const forkError = (count: unknown) => {
  const r = forkSchema.safeParse({ count });
  return r.success ? null : describeZodError(r.error);
};

describe('shared input schemas', () => {
  it('live fork: a fork plus quiesce (off unless asked), with the same count and prefix rules', () => {
    expect(liveForkSchema.parse({ count: 3 })).toEqual({ count: 3, persistent: false, quiesce: false });
    expect(liveForkSchema.parse({ count: 1, persistent: true, quiesce: true, prefix: 'web-1' })).toMatchObject({ persistent: true, quiesce: true, prefix: 'web-1' });
    const bad = liveForkSchema.safeParse({ count: 0, quiesce: 'yes', prefix: '../x' });
    expect(bad.success).toBe(false);
    expect(describeZodError(bad.error!)).toMatch(/at least 1[\s\S]*prefix[\s\S]*quiesce/);
  });

  it('refuses fork counts that are not a whole number in range, with a sentence that says why', () => {
    expect(forkError(0)).toMatch(/at least 1/);
    expect(forkError(-1)).toMatch(/at least 1/);
    expect(forkError(2.5)).toMatch(/whole number/);
    expect(forkError(100000)).toMatch(/at most 500/);
    expect(forkError('abc')).toMatch(/must be a number/);
    expect(forkError(3)).toBeNull();
  });

  it('refuses names that cannot be a hostname or a file name', () => {
    for (const bad of ['a/b', 'has space', '', 'UPPER', '-lead', 'trail-', 'x'.repeat(64), '../etc']) {
      expect(nameSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(nameSchema.parse('web-01')).toBe('web-01');
  });

  it('fills prepare defaults and refuses unknown images', () => {
    const p = prepareSchema.parse({ name: 'p1' });
    expect(p).toMatchObject({ image: 'tiny', slots: 0, prelaunch: false, quiesce: false, memory: 256, warmup: [] });
    // an image is a built-in one or an imported one (the engine checks that it exists): the schema
    // refuses what cannot be an image name
    const r = prepareSchema.safeParse({ name: 'p1', image: 'Windows 10' });
    expect(r.success).toBe(false);
    expect(describeZodError(r.error!)).toMatch(/Unknown image/);
    expect(prepareSchema.parse({ name: 'p1', image: 'my-vm' }).image).toBe('my-vm');
  });
});
