import { route } from '@/lib/api/handler';
import { audit } from '@/lib/auth/audit';
import { revokeToken } from '@/lib/auth/tokens';

export const dynamic = 'force-dynamic';

export const DELETE = route('admin', async ({ params, principal }) => {
  const t = await revokeToken(params.id);
  await audit(principal.name, 'token.revoke', 'ok', { id: params.id, name: t.name });
  return { ok: true, revoked: params.id };
});
