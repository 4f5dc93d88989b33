import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ principal }) => ({ name: principal.name, role: principal.role, kind: principal.kind }));
