import { refOnly, serve, type Ctx } from '@/lib/api/handler';
import { getVm, removeVm } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

export const GET = serve(getVm, refOnly);

export const DELETE = serve(removeVm, ({ req, params }: Ctx) => ({ ref: params.ref, force: new URL(req.url).searchParams.get('force') === '1' }));
