import { refOnly, serve, type Ctx } from '@/lib/api/handler';
import { getTemplate, removeTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

export const GET = serve(getTemplate, refOnly);

export const DELETE = serve(removeTemplate, ({ req, params }: Ctx) => ({ ref: params.ref, force: new URL(req.url).searchParams.get('force') === '1' }));
