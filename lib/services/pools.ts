// Pool actions (lib/engine/pools): create, claim, resize, push, remove, and the reads.
import { Engine } from '../engine';
import { poolClaimSchema, poolCreateSchema, poolPushSchema, poolResizeSchema } from '../validations/pools';
import { longService, noInput, service } from './service';

const pools = () => Engine.get().pools();

export const listPools = service({ role: 'viewer', input: noInput, run: async () => (await pools()).list() });
export const getPool = service({ role: 'viewer', input: noInput, ref: true, run: async (_a, { ref }) => (await pools()).get(ref) });
export const createPool = service({ role: 'operator', input: poolCreateSchema, run: async (a, input) => (await pools()).create(input, { actor: a.name }) });
/** The claim path is database only: mark a ready spare claimed and return it. */
export const claimFromPool = service({ role: 'operator', input: poolClaimSchema, ref: true, run: async (a, { ref, ...input }) => (await pools()).claim(ref, input, { actor: a.name }) });
export const resizePool = service({ role: 'operator', input: poolResizeSchema, ref: true, run: async (a, { ref, ...input }) => (await pools()).resize(ref, input, { actor: a.name }) });
/**
 * Rolls the pool to another template. A waiting caller gets the answer when the push is recorded, as
 * before; a detached operation ends when the spares have rolled (claimed children roll on release).
 */
export const pushPool = longService({
  role: 'operator',
  input: poolPushSchema,
  ref: true,
  kind: 'pool-push',
  run: async (_a, { ref, ...input }, ctx, o) => (o.detached ? (await pools()).pushAndRoll(ref, input, ctx) : (await pools()).push(ref, input, ctx)),
});
export const removePool = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => (await pools()).remove(ref, { actor: a.name }) });
