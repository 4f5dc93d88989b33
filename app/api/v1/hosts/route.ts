import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';
import { hostsView } from '@/lib/cluster/views';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => hostsView(engine()));
