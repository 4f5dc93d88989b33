// Pools over many hosts without a database: local pool names, the share job's schema, --host on create.
import { describe, expect, it } from 'vitest';
import { localPoolName } from '@/lib/cluster/pools';
import { refillEntries, refillRate } from '@/lib/engine/pools/stats';
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

  it('adds up the refill rates that each host logs (spares per minute, mean fork time per spare, last refill)', () => {
    const now = Date.parse('2026-12-02T08:00:00Z');
    const at = (minAgo: number) => new Date(now - minAgo * 60_000);
    // host a: one fork of 2 spares 1 min ago (3000 ms) and one of 1 spare 30 min ago (1000 ms); host b: one spare 5 min ago (2000 ms)
    const a = refillEntries([{ at: at(1), message: 'spares=2 forked in 3000 ms', durationMs: 3000 }, { at: at(30), message: 'spares=1 forked in 1000 ms', durationMs: 1000 }]);
    const b = refillEntries([{ at: at(5), message: 'spares=1 forked in 2000 ms', durationMs: 2000 }, { at: at(90), message: 'spares=4 forked in 9 ms', durationMs: 9 }]);
    expect(refillRate(a, now)).toEqual({ perMinute: 0.2, meanMs: 1333, lastAt: at(1).toISOString() });
    expect(refillRate(b, now)).toEqual({ perMinute: 0.1, meanMs: 2000, lastAt: at(5).toISOString() });
    // the pool over both hosts: 3 spares in the last 10 min, the 90-min-old fork is out of the hour
    expect(refillRate([...a, ...b], now)).toEqual({ perMinute: 0.3, meanMs: 1500, lastAt: at(1).toISOString() });
    expect(refillRate([], now)).toEqual({ perMinute: 0, meanMs: null, lastAt: null });
    // a hostile or damaged message never multiplies a row beyond a pool's size
    expect(refillEntries([{ at: at(1), message: 'spares=999999', durationMs: 1 }])).toHaveLength(500);
    expect(refillEntries([{ at: at(1), message: null, durationMs: null }])).toEqual([{ at: at(1).getTime(), ms: 0 }]);
  });
});
