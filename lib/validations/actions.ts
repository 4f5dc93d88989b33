// Inputs of the console's actions that have no CLI flag of their own (bulk, remove, serial typing).
import { z } from 'zod';
import { LIMITS } from './index';

export const removeSchema = z.object({ force: z.boolean().default(false) });

export const BULK_ACTIONS = ['start', 'stop', 'reset', 'delete'] as const;
/** VMs named at once (bulk actions, reset of many): ids or names. */
const refsSchema = z
  .array(z.string().trim().min(1, 'A VM id or name cannot be empty.').max(200, 'A VM id or name has at most 200 characters.'), { error: 'Name the VMs as a list of ids or names, e.g. {"refs": ["web-1", "web-2"]}.' })
  .min(1, 'Select at least one VM.')
  .max(LIMITS.maxForkCount, `Select at most ${LIMITS.maxForkCount} VMs at once.`);
export const bulkSchema = z.object({
  action: z.enum(BULK_ACTIONS, { error: 'A bulk action is one of start, stop, reset, delete.' }),
  refs: refsSchema,
});
export type BulkInput = z.infer<typeof bulkSchema>;

/** `POST /api/v1/vms/reset`, `instaclone reset VM VM…`: many VMs back to their template's state, as one operation. */
export const resetManySchema = z.object({ refs: refsSchema });
export type ResetManyInput = z.infer<typeof resetManySchema>;

const SERIAL_MSG = 'Send {"data": "…"} with 1 to 4096 characters to type into the serial console.';
export const serialTypeSchema = z.object({
  data: z.string({ error: SERIAL_MSG }).min(1, SERIAL_MSG).max(4096, SERIAL_MSG),
});
