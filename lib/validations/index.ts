// The one set of input schemas shared by the console's forms, the REST API and the CLI.
import { z } from 'zod';

export const LIMITS = {
  maxForkCount: 500,
  maxSlots: 500,
  minMemoryMiB: 64,
  maxMemoryMiB: 16384,
  maxVcpus: 8,
  maxWarmups: 20,
  maxCommandLength: 4096,
  maxForwardPorts: 16,
} as const;

/** VM and template names: they become file names and hostnames, so keep them to an RFC 1123 label. */
export const nameSchema = z
  .string({ error: 'A name is required.' })
  .trim()
  .min(1, 'A name is required.')
  .max(63, 'A name has at most 63 characters.')
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    'A name may contain only lower-case letters, digits and "-", and must start and end with a letter or digit (it becomes a hostname).',
  );

/** A prefix for child names; children become PREFIX-1, PREFIX-2, … so it must leave room for the number. */
export const prefixSchema = z
  .string()
  .trim()
  .min(1, 'The name prefix must not be empty.')
  .max(50, 'The name prefix has at most 50 characters (the child number is appended).')
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    'The name prefix may contain only lower-case letters, digits and "-", and must start and end with a letter or digit.',
  );

/** Built-in images; any other image name is an imported one (checked against the database). */
export const BUILTIN_IMAGES = ['tiny', 'debian'] as const;

/** An image to prepare from: a built-in one or an imported one (a name like nameSchema). */
export const imageNameSchema = z
  .string({ error: 'An image name is required.' })
  .trim()
  .min(1, 'An image name is required.')
  .max(63, 'An image name has at most 63 characters.')
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'Unknown image: choose "tiny", "debian" or the name of an imported image (see `instaclone images`).');

export const IMAGE_FORMATS = ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx', 'vpc'] as const;

/** `images import`: NAME, --disk FILE (a path on the console's host), --format, --firmware. */
export const importImageSchema = z.object({
  name: nameSchema.refine((n) => !(BUILTIN_IMAGES as readonly string[]).includes(n), 'That name belongs to a built-in image; choose another name.'),
  disk: z
    .string({ error: 'Give the disk file to import (--disk FILE).' })
    .min(1, 'Give the disk file to import (--disk FILE).')
    .max(4096, 'The disk path has at most 4096 characters.')
    .refine((p) => !p.includes('\0'), 'The disk path must not contain a NUL character.')
    .optional(),
  format: z.enum(['auto', ...IMAGE_FORMATS], { error: `The format is one of auto, ${IMAGE_FORMATS.join(', ')}.` }).default('auto'),
  firmware: z.enum(['bios', 'uefi'], { error: 'The firmware is bios or uefi.' }).default('bios'),
});
export type ImportImageInput = z.infer<typeof importImageSchema>;

const wholeNumber = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number.` })
    .refine((n) => Number.isInteger(n), `${what} must be a whole number.`)
    .refine((n) => n >= min, `${what} must be at least ${min}.`)
    .refine((n) => n <= max, `${what} must be at most ${max}.`);

export const warmupSchema = z
  .string()
  .trim()
  .min(1, 'A warm-up command must not be empty.')
  .max(LIMITS.maxCommandLength, `A warm-up command has at most ${LIMITS.maxCommandLength} characters.`);

/** Guest TCP ports to forward from the host's 127.0.0.1 (user-mode networking). */
export const guestPortsSchema = z
  .array(wholeNumber('A guest port', 1, 65535))
  .max(LIMITS.maxForwardPorts, `At most ${LIMITS.maxForwardPorts} forwarded guest ports.`)
  .refine((a) => new Set(a).size === a.length, 'Each guest port may be listed only once.');

export const prepareSchema = z.object({
  image: imageNameSchema.default('tiny'),
  name: nameSchema,
  warmup: z.array(warmupSchema).max(LIMITS.maxWarmups, `At most ${LIMITS.maxWarmups} warm-up commands.`).default([]),
  slots: wholeNumber('The number of slots', 0, LIMITS.maxSlots).default(0),
  prelaunch: z.boolean().default(false),
  quiesce: z.boolean().default(false),
  memory: wholeNumber('Memory (MiB)', LIMITS.minMemoryMiB, LIMITS.maxMemoryMiB).default(256),
  vcpus: wholeNumber('vCPUs', 1, LIMITS.maxVcpus).default(1),
  /** what its guests may reach on user-mode networking: nothing (isolated) or the outside and the host's loopback (outbound) */
  network: z.enum(['isolated', 'outbound'], { error: 'network is isolated or outbound.' }).default('isolated'),
  /** guest ports forwarded to every child of the template (each fork may override) */
  ports: guestPortsSchema.default([80, 22]),
  /** prepare a running child into a new template instead of booting an image */
  fromVm: z.string().min(1).optional(),
  /** the parent is not frozen away: the template is made from this moment and the parent runs on as itself */
  keepParent: z.boolean().optional(),
  /** seconds to wait for the guest agent of a booting parent (imported images boot slowly under TCG) */
  bootTimeout: wholeNumber('The boot timeout (s)', 5, 3600).optional(),
});
export type PrepareInput = z.infer<typeof prepareSchema>;
/** what a caller may send (defaults filled in by the schema) */
export type PrepareRequest = z.input<typeof prepareSchema>;

export const forkSchema = z.object({
  count: wholeNumber('The child count', 1, LIMITS.maxForkCount),
  persistent: z.boolean().default(false),
  prefix: prefixSchema.optional(),
  /** new SSH host keys in each child (stock-agent guests); default: on for persistent children */
  sshKeys: z.boolean().optional(),
  /** guest ports to forward instead of the template's own list */
  ports: guestPortsSchema.optional(),
});
export type ForkInput = z.infer<typeof forkSchema>;

/** Forking a running VM (live fork): as a fork, plus quiesce (required for persistent children). */
export const liveForkSchema = forkSchema.extend({
  quiesce: z.boolean().default(false),
});
export type LiveForkInput = z.infer<typeof liveForkSchema>;

export const execSchema = z.object({
  command: z
    .array(z.string())
    .min(1, 'Give a command to run in the guest.')
    .refine((a) => a.length === 0 || a[0].length > 0, 'The command must not be empty.'), // [] is said once, by min()
  timeoutMs: wholeNumber('The timeout (ms)', 100, 600_000).default(30_000),
});
export type ExecInput = z.infer<typeof execSchema>;

export const vmActionSchema = z.enum(['stop', 'start', 'reset'], {
  error: 'Unknown action: use stop, start or reset.',
});

/** Flattens a zod error into one operator-readable sentence. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join(' ');
}

export const tokenSchema = z.object({
  name: z.string().trim().min(1, 'A token needs a name.').max(64, 'A token name has at most 64 characters.'),
  role: z.enum(['viewer', 'operator', 'admin'], { error: 'A token role is one of viewer, operator, admin.' }),
});
