// A PNG picture of the VM's screen (QMP screendump): imported images' VMs, their parent during prepare too.
import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async ({ params }) => {
  const png = await engine().screen(params.ref);
  return new Response(new Uint8Array(png), { headers: { 'content-type': 'image/png', 'cache-control': 'no-store' } });
});
