import { readJson, serve, serveOperation } from '@/lib/api/handler';
import { listTemplates } from '@/lib/services/reads';
import { prepareTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

export const GET = serve(listTemplates);

// Prepare: boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen
// (or at once with the operation's id: lib/api/operation.ts).
export const POST = serveOperation(prepareTemplate, ({ req }) => readJson(req));
