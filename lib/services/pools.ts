// Pool actions (lib/engine/pools): create, claim, resize, push, remove, and the reads.
import { agents } from '../cluster/dispatch';
import * as cluster from '../cluster/pools';
import { config } from '../config';
import { Engine } from '../engine';
import { EngineError } from '../engine/errors';
import { poolClaimSchema, poolCreateSchema, poolPushSchema, poolResizeSchema } from '../validations/pools';
import { longService, noInput, service } from './service';

const pools = () => Engine.get().pools();
/** Many hosts: with agents registered (even all lost for a while), pools are spread over them (lib/cluster/pools.ts). */
const spread = async () => (await agents()).length > 0;

export const listPools = service({ role: 'viewer', input: noInput, run: async () => ((await spread()) ? cluster.clusterList() : (await pools()).list()) });
export const getPool = service({ role: 'viewer', input: noInput, ref: true, run: async (_a, { ref }) => ((await spread()) ? cluster.clusterView(await cluster.clusterPoolByRef(ref)) : (await pools()).get(ref)) });
export const createPool = service({
  role: 'operator',
  input: poolCreateSchema,
  run: async (a, input) => {
    if (await spread()) return cluster.clusterCreate(input, a.name);
    if (input.host && input.host !== config().hostName) {
      throw new EngineError('invalid', `There is no host "${input.host}": pinning needs agents on a shared PostgreSQL (README "Many hosts"); this console runs everything on "${config().hostName}".`);
    }
    return (await pools()).create(input, { actor: a.name });
  },
});
/** The claim path is database only (one host), or one agent call (many hosts): mark a ready spare claimed and return it. */
export const claimFromPool = service({
  role: 'operator',
  input: poolClaimSchema,
  ref: true,
  run: async (a, { ref, ...input }) => ((await spread()) ? cluster.clusterClaim(ref, input, a.name) : (await pools()).claim(ref, input, { actor: a.name })),
});
export const resizePool = service({ role: 'operator', input: poolResizeSchema, ref: true, run: async (a, { ref, ...input }) => ((await spread()) ? cluster.clusterResize(ref, input) : (await pools()).resize(ref, input, { actor: a.name })) });

/**
 * Rolls the pool to another template. A waiting caller gets the answer when the push is recorded, as
 * before; a detached operation ends when the spares have rolled (claimed children roll on release).
 */
export const pushPool = longService({
  role: 'operator',
  input: poolPushSchema,
  ref: true,
  kind: 'pool-push',
  run: async (_a, { ref, ...input }, ctx, o) => ((await spread()) ? cluster.clusterPush(ref, input) : o.detached ? (await pools()).pushAndRoll(ref, input, ctx) : (await pools()).push(ref, input, ctx)),
});
export const removePool = service({ role: 'operator', input: noInput, ref: true, run: async (a, { ref }) => ((await spread()) ? cluster.clusterRemove(ref) : (await pools()).remove(ref, { actor: a.name })) });
