import { bodyAndRef, serveOperation } from '@/lib/api/handler';
import { forkTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

// a running VM's name here is a live fork (DESIGN.md `fork VM …`); answers at once with ?wait=0
export const POST = serveOperation(forkTemplate, bodyAndRef);
