// Bounded concurrency (p-limit) for the engine's fan-outs: slots at prepare, children at fork.
import pLimit from 'p-limit';

/**
 * Runs `fn` for 0…n-1 with at most `limit` at once. After the first failure no new call starts
 * (calls under way finish), and it rejects with that first error once all have settled.
 */
export async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const run = pLimit(Math.max(1, limit));
  let failed: { e: unknown } | null = null;
  const out = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      run(async () => {
        if (failed) return undefined as T;
        try {
          return await fn(i);
        } catch (e) {
          failed ??= { e };
          return undefined as T;
        }
      }),
    ),
  );
  if (failed) throw (failed as { e: unknown }).e;
  return out;
}
