// A PNG picture of the VM's screen (QMP screendump): imported images' VMs, their parent during prepare too.
// Operators and admins only: the screen shows what the guest prints (a viewer sees no guest output).
import { engine } from '@/lib/api/engine';
import { route } from '@/lib/api/handler';

export const dynamic = 'force-dynamic';

export const GET = route('operator', async ({ params }) => {
  const png = await engine().screen(params.ref);
  return new Response(new Uint8Array(png), { headers: { 'content-type': 'image/png', 'cache-control': 'no-store' } });
});
