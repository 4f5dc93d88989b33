'use server';
// Server actions for VMs: each checks the session and role exactly as the REST route does, by calling
// the same service (lib/services/vms). Errors come back as values. Live fork and reset of many answer
// {operationId} at once; the page follows it (lib/client/use-operation.ts).
import { runAction, runStart } from '@/lib/api/action';
import * as vms from '@/lib/services/vms';
import type { BulkInput, ResetManyInput } from '@/lib/validations/actions';
import type { ExecInput, LiveForkInput } from '@/lib/validations';

type Ref = { ref: string };

export async function startVmAction(input: Ref) {
  return runAction(vms.startVm, input);
}
export async function stopVmAction(input: Ref) {
  return runAction(vms.stopVm, input);
}
export async function resetVmAction(input: Ref) {
  return runAction(vms.resetVm, input);
}
export async function removeVmAction(input: Ref & { force?: boolean }) {
  return runAction(vms.removeVm, input);
}
export async function bulkVmAction(input: BulkInput) {
  return runAction(vms.bulkVms, input);
}
export async function execAction(input: Ref & { command: string[]; timeoutMs?: ExecInput['timeoutMs'] }) {
  return runAction(vms.execInVm, input);
}
export async function typeSerialAction(input: Ref & { data: string }) {
  return runAction(vms.typeSerial, input);
}
export async function liveForkAction(input: Ref & Partial<LiveForkInput> & { count: number }) {
  return runStart(vms.liveForkVm, input);
}
export async function resetVmsAction(input: ResetManyInput) {
  return runStart(vms.resetVms, input);
}
export async function releaseVmAction(input: Ref) {
  return runAction(vms.releaseVm, input);
}
