import { bodyAndRef, serve } from '@/lib/api/handler';
import { forkTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

// a running VM's name here is a live fork (DESIGN.md `fork VM …`)
export const POST = serve(forkTemplate, bodyAndRef);
