import { bodyAndRef, serve } from '@/lib/api/handler';
import { execInVm } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

// Runs a command inside the guest through its agent (never through a shell on the host).
export const POST = serve(execInVm, bodyAndRef);
