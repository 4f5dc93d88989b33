import { bodyAndRef, serveOperation } from '@/lib/api/handler';
import { liveForkVm } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

// live fork: the running VM pauses briefly, a template is made from that moment, N children fork from it
export const POST = serveOperation(liveForkVm, bodyAndRef);
