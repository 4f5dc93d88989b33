// Input schemas for many hosts, shared by the console, the REST API, the CLI and the agents' API.
import { z } from 'zod';
import { HOST_NAME_RE } from '../config';
import { liveForkSchema, prepareSchema } from './index';

export const hostNameSchema = z
  .string({ error: 'The host name must be text.' })
  .regex(HOST_NAME_RE, 'A host name is 1-40 lower-case letters, digits or dashes (not at either end).');

/** A caller-chosen fork id: a retry with the same id never makes a second child. */
export const requestIdSchema = z
  .string({ error: 'The request id must be text.' })
  .regex(/^[A-Za-z0-9_-]{8,100}$/, 'The request id is 8-100 letters, digits, dashes or underscores.');

/**
 * `fork --host NAME` and the idempotency key; the console makes one when the caller sends none. The
 * live-fork schema: REF may be a running VM on an agent (then `quiesce` counts; a template fork ignores it).
 */
export const clusterForkSchema = liveForkSchema.extend({
  host: hostNameSchema.optional(),
  requestId: requestIdSchema.optional(),
});
export type ClusterForkInput = z.infer<typeof clusterForkSchema>;

export const clusterPrepareSchema = prepareSchema.extend({ host: hostNameSchema.optional() });
export type ClusterPrepareInput = z.infer<typeof clusterPrepareSchema>;

/** What a console sends an agent: the template (or running VM, for a live fork) and an id are required there. */
export const agentForkSchema = liveForkSchema.extend({ template: z.string().min(1).max(200), requestId: requestIdSchema });
export type AgentForkInput = z.infer<typeof agentForkSchema>;

/** The shared secret of the agents' internal API: long enough not to be guessed. */
export const agentSecretSchema = z
  .string({ error: 'INSTACLONE_AGENT_SECRET must be set for an agent: a random string of at least 32 characters (e.g. `openssl rand -hex 32`).' })
  .min(32, 'INSTACLONE_AGENT_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`).');

export const hostActionSchema = z.enum(['drain', 'ready'], { error: 'A host action is drain or ready.' });

/** The job "pool-share@HOST": this host's share of a cluster pool (lib/cluster/pool-agent.ts). */
export const poolShareSchema = z.object({
  pool: z.string().min(1).max(63),
  local: z.string().regex(/^[a-z0-9-]{1,63}$/),
  templateId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  size: z.number().int().min(0).max(500),
  spares: z.number().int().min(0).max(500),
  onRelease: z.enum(['reset', 'delete']),
  ttlSec: z.number().int().positive().nullable(),
  owner: z.string().max(200).nullable(),
  remove: z.boolean().optional(),
});
export type PoolShare = z.infer<typeof poolShareSchema>;
