'use server';
// Server actions for pools (lib/services/pools): the same services the REST routes call.
import { runAction, runStart } from '@/lib/api/action';
import * as pools from '@/lib/services/pools';
import type { PoolClaimInput, PoolResizeInput } from '@/lib/validations/pools';
import type { z } from 'zod';
import type { poolCreateSchema } from '@/lib/validations/pools';

type Ref = { ref: string };

export async function createPoolAction(input: z.input<typeof poolCreateSchema>) {
  return runAction(pools.createPool, input);
}
export async function claimAction(input: Ref & PoolClaimInput) {
  return runAction(pools.claimFromPool, input);
}
export async function resizePoolAction(input: Ref & PoolResizeInput) {
  return runAction(pools.resizePool, input);
}
export async function pushPoolAction(input: Ref & { template: string }) {
  return runStart(pools.pushPool, input); // {operationId}: ends when the push is recorded
}
export async function removePoolAction(input: Ref) {
  return runAction(pools.removePool, input);
}
