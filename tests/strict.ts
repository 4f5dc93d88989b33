// Conditional suites (PostgreSQL, bridged networking, the QEMU user, KVM-less facts) run only where
// the host allows them. With INSTACLONE_TEST_STRICT=1 (set by .ci/run) a missing condition is a
// failure that says what is missing, never a quiet skip.
import { expect } from 'vitest';

export const strict = process.env.INSTACLONE_TEST_STRICT === '1';

/** Whether to run a conditional test or suite: always in strict mode (then `need` fails it). */
export const when = (condition: boolean): boolean => condition || strict;

/** Fails the running test (strict mode) when its condition does not hold; `what` says what is missing. */
export function need(condition: boolean, what: string): void {
  expect(condition, `INSTACLONE_TEST_STRICT=1 and this test cannot run here: ${what}`).toBe(true);
}
