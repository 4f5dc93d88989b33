// Pools over many hosts without a database: local pool names, the share job's schema, --host on create.
import { describe, expect, it } from 'vitest';
import { localPoolName } from '@/lib/cluster/pools';
import { nameSchema } from '@/lib/validations';
import { poolShareSchema } from '@/lib/validations/hosts';
import { poolCreateSchema } from '@/lib/validations/pools';

describe('pools over many hosts', () => {
  it('names each host\'s share as a valid pool name of at most 63 characters, distinct per host', () => {
    expect(localPoolName('web', 'a')).toBe('web-a');
    const long = 'p'.repeat(63);
    const names = ['host-one', 'host-two', 'h'.repeat(40)].map((h) => localPoolName(long, h));
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(nameSchema.safeParse(n).success).toBe(true);
    }
    expect(new Set(names).size).toBe(3);
  });

  it('checks the share job and the pinned host', () => {
    const job = { pool: 'web', local: 'web-a', templateId: 'tpl-1', size: 2, spares: 1, onRelease: 'reset', ttlSec: null, owner: 'op' };
    expect(poolShareSchema.safeParse(job).success).toBe(true);
    expect(poolShareSchema.safeParse({ ...job, local: '../x' }).success).toBe(false);
    expect(poolShareSchema.safeParse({ ...job, templateId: "x'; drop" }).success).toBe(false);
    expect(poolShareSchema.safeParse({ ...job, spares: -1 }).success).toBe(false);
    expect(poolCreateSchema.parse({ name: 'p', template: 't', size: 3, host: 'b' }).host).toBe('b');
    expect(poolCreateSchema.safeParse({ name: 'p', template: 't', size: 3, host: 'B!' }).success).toBe(false);
  });
});
