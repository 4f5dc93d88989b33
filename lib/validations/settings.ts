// Operator-set limits for admission control (PUT /api/v1/settings, the Settings page, the CLI).
// Every field is optional: only the ones given change. Unknown fields are refused, so a typo does
// not silently leave a limit as it was.
import { z } from 'zod';

const MAX_MIB = 16 * 1024 * 1024; // 16 TiB: more than any host this runs on

const wholeMiB = (what: string) =>
  z
    .number({ error: `${what} must be a number of MiB.` })
    .refine((n) => Number.isInteger(n), `${what} must be a whole number of MiB.`)
    .refine((n) => n >= 0, `${what} must not be negative.`)
    .refine((n) => n <= MAX_MIB, `${what} must be at most ${MAX_MIB} MiB.`);

export const settingsSchema = z
  .object({
    maxChildrenPerTemplate: z
      .number({ error: 'The child limit per template must be a number, or null for no limit.' })
      .refine((n) => Number.isInteger(n), 'The child limit per template must be a whole number.')
      .refine((n) => n >= 0, 'The child limit per template must not be negative (use null for no limit).')
      .refine((n) => n <= 100_000, 'The child limit per template must be at most 100000 (use null for no limit).')
      .nullable()
      .optional(),
    maxMemoryShare: z
      .number({ error: 'The memory share must be a number between 0.05 and 1 (a fraction of host memory).' })
      .refine((n) => Number.isFinite(n) && n >= 0.05 && n <= 1, 'The memory share must be between 0.05 and 1 (a fraction of host memory, e.g. 0.8).')
      .optional(),
    minFreeMemoryMiB: wholeMiB('The host memory reserve').optional(),
    minFreeRunMiB: wholeMiB('The free space kept on INSTACLONE_RUN').optional(),
    minFreeHomeMiB: wholeMiB('The free space kept on INSTACLONE_HOME').optional(),
  })
  .strict()
  .refine((o) => Object.values(o).some((v) => v !== undefined), 'Give at least one limit to change.');

export type SettingsInput = z.infer<typeof settingsSchema>;
