// Pool actions (lib/engine/pools): create, claim, resize, push, remove, and the reads.
import { Engine } from '../engine';
import { poolClaimSchema, poolCreateSchema, poolPushSchema, poolResizeSchema } from '../validations/pools';
import { noInput, service } from './service';

const pools = () => Engine.get().pools();

export const listPools = service({ role: 'viewer', input: noInput, run: async () => (await pools()).list() });
export const getPool = service({ role: 'viewer', input: noInput, ref: true, run: async (_a, { ref }) => (await pools()).get(ref) });
export const createPool = service({ role: 'operator', input: poolCreateSchema, run: async (a, input) => (await pools()).create(input, { actor: a.name }) });
/** The claim path is database only: mark a ready spare claimed and return it. */
export const claimFromPool = service({ role: 'operator', input: poolClaimSchema, ref: true, run: async (a, { ref, ...input }) => (await pools()).claim(ref, input, { actor: a.name }) });
export const resizePool = service({ role: 'operator', input: poolResizeSchema, ref: true, run: async (a, { ref, ...input }) => (await pools()).resize(ref, input, { actor: a.name }) });
export const pushPool = service({ role: 'operator', input: poolPushSchema, ref: true, run: async (a, { ref, ...input }) => (await pools()).push(ref, input, { actor: a.name }) });
export const removePool = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => (await pools()).remove(ref, { actor: a.name }) });
