// Statistics helpers for the benchmark. Pure functions, no I/O (unit-tested in tests/unit/bench-stats.test.ts).

/** Summary of a list of samples. All fields are null when there are no (finite) samples. */
export interface Summary {
  n: number;
  median: number | null;
  p95: number | null;
  mean: number | null;
  min: number | null;
  max: number | null;
}

function finiteSorted(xs: readonly number[]): number[] {
  return xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/**
 * The q-quantile (0 ≤ q ≤ 1) with linear interpolation between closest ranks
 * (Hyndman & Fan type 7: the default of numpy, R and spreadsheets). NaN/Infinity are ignored.
 * Returns null for an empty list.
 */
export function quantile(xs: readonly number[], q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be within [0, 1], got ${q}`);
  const s = finiteSorted(xs);
  if (s.length === 0) return null;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (xs: readonly number[]): number | null => quantile(xs, 0.5);
export const p95 = (xs: readonly number[]): number | null => quantile(xs, 0.95);

export function mean(xs: readonly number[]): number | null {
  const s = finiteSorted(xs);
  return s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
}

export function summarize(xs: readonly number[]): Summary {
  const s = finiteSorted(xs);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    p95: quantile(s, 0.95),
    mean: mean(s),
    min: s.length ? s[0] : null,
    max: s.length ? s[s.length - 1] : null,
  };
}

/** Rounds to `digits` decimals (for JSON output); null stays null. */
export function round(x: number | null | undefined, digits = 1): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

export type TargetOp = '<=' | '>=';

/** Whether `value` meets `op target`; null when there is no value. */
export function meets(value: number | null | undefined, op: TargetOp, target: number): boolean | null {
  if (value == null || !Number.isFinite(value)) return null;
  return op === '<=' ? value <= target : value >= target;
}
