import { route } from '@/lib/api/handler';
import { revokeToken } from '@/lib/auth/tokens';

export const dynamic = 'force-dynamic';

export const DELETE = route('admin', async ({ params }) => {
  await revokeToken(params.id);
  return { ok: true, revoked: params.id };
});
