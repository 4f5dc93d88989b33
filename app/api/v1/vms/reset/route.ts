import { readJson, serveOperation } from '@/lib/api/handler';
import { resetVms } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

// Reset of many: {"refs": [VM, …]} → {"results": [{ref, ok, vm | error}]}, one operation (?wait=0 answers its id).
// A static segment: no VM can be named "reset" (children are PREFIX-N, parents NAME.parent).
export const POST = serveOperation(resetVms, ({ req }) => readJson(req));
