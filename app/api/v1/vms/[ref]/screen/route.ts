// A PNG picture of the VM's screen (QMP screendump): imported images' VMs, their parent during prepare too.
import { refOnly, route } from '@/lib/api/handler';
import { vmScreen } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

export const GET = route(vmScreen.role, async (ctx) => {
  const png = await vmScreen(ctx.principal, refOnly(ctx));
  return new Response(new Uint8Array(png), { headers: { 'content-type': 'image/png', 'cache-control': 'no-store' } });
});
