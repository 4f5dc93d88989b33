import { readJson, serve } from '@/lib/api/handler';
import { listTemplates } from '@/lib/services/reads';
import { prepareTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

export const GET = serve(listTemplates);

// Prepare: boot, warm, (quiesce,) freeze, register slots. Answers when the template is frozen.
export const POST = serve(prepareTemplate, ({ req }) => readJson(req));
