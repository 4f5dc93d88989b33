// A quota per user or API token (PUT /api/v1/quotas, `instaclone quota set`): the name is a
// principal's as the event log shows it (`alice`, `token:ci`) or `*` for everyone without their own;
// null removes a limit, both null remove the quota.
import { z } from 'zod';

const limit = (what: string, max: number) =>
  z
    .number({ error: `${what} must be a whole number, or null for no limit.` })
    .refine((n) => Number.isInteger(n) && n >= 0, `${what} must be a whole number of at least 0 (null for no limit).`)
    .refine((n) => n <= max, `${what} must be at most ${max} (null for no limit).`)
    .nullable();

export const quotaSchema = z
  .object({
    name: z
      .string({ error: 'Name the user or token: a user name, token:NAME, or * for everyone.' })
      .trim()
      .min(1, 'Name the user or token: a user name, token:NAME, or * for everyone.')
      .max(80, 'A quota name has at most 80 characters.')
      .refine((n) => !/[\x00-\x1f\x7f]/.test(n), 'A quota name has no control characters.'),
    maxChildren: limit('The child quota', 100_000).optional().default(null),
    maxMemoryMiB: limit('The memory quota (MiB)', 16 * 1024 * 1024).optional().default(null),
  })
  .strict();

export type QuotaInput = z.infer<typeof quotaSchema>;
