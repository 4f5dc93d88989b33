import { refOnly, route } from '@/lib/api/handler';
import { vmActionSchema } from '@/lib/validations';
import { resetVm, startVm, stopVm } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

const services = { start: startVm, stop: stopVm, reset: resetVm } as const;

// stop | start | reset
export const POST = route('operator', async (ctx) => services[vmActionSchema.parse(ctx.params.action)](ctx.principal, refOnly(ctx)));
