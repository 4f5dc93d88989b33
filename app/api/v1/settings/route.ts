// Admission-control limits. GET (viewer): the limits in force, the defaults, and the host facts
// they are checked against. PUT (admin): change some limits (every attempt is in the event log).
import { readJson, route, serve } from '@/lib/api/handler';
import { getSettings, updateSettings } from '@/lib/services/settings';

export const dynamic = 'force-dynamic';

export const GET = serve(getSettings);

export const PUT = route('admin', async ({ req, principal }) => updateSettings(principal, await readJson(req)));
