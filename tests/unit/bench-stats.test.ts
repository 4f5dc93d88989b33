import { describe, expect, it } from 'vitest';
import { meets, mean, median, p95, quantile, ratio, round, summarize } from '../../bench/lib/stats';

describe('bench statistics', () => {
  it('median of odd and even counts, unsorted input', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('p95 interpolates between closest ranks (type 7)', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(p95(xs)).toBeCloseTo(95.05, 10);
    expect(p95([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBeCloseTo(9.55, 10);
    expect(p95([42])).toBe(42);
    expect(quantile([1, 2], 0)).toBe(1);
    expect(quantile([1, 2], 1)).toBe(2);
  });

  it('ignores NaN and Infinity, and answers null for no samples', () => {
    expect(median([NaN, 2, Infinity, 4])).toBe(3);
    expect(median([])).toBeNull();
    expect(p95([NaN])).toBeNull();
    expect(mean([])).toBeNull();
  });

  it('rejects a quantile outside [0, 1]', () => {
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
  });

  it('summarize gives n, median, p95, mean, min, max', () => {
    expect(summarize([3, 1, 2, 10])).toEqual({ n: 4, median: 2.5, p95: expect.closeTo(8.95, 10), mean: 4, min: 1, max: 10 });
    expect(summarize([])).toEqual({ n: 0, median: null, p95: null, mean: null, min: null, max: null });
  });

  it('does not mutate its input', () => {
    const xs = [3, 1, 2];
    summarize(xs);
    expect(xs).toEqual([3, 1, 2]);
  });

  it('round, ratio and meets handle missing values', () => {
    expect(round(1.2345, 2)).toBe(1.23);
    expect(round(null)).toBeNull();
    expect(ratio(10, 2)).toBe(5);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
    expect(meets(4, '<=', 5)).toBe(true);
    expect(meets(60, '>=', 50)).toBe(true);
    expect(meets(6, '<=', 5)).toBe(false);
    expect(meets(null, '<=', 5)).toBeNull();
  });
});
