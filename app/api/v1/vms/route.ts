import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => ({ vms: (await engine().list()).vms }));
