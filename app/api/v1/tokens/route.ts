import { readJson, route } from '@/lib/api/handler';
import { audit } from '@/lib/auth/audit';
import { createToken, listTokens } from '@/lib/auth/tokens';
import { tokenSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const GET = route('admin', async () => ({ tokens: await listTokens() }));

// The secret is in this answer only: it is stored as a hash.
export const POST = route('admin', async ({ req, principal }) => {
  const input = tokenSchema.parse(await readJson(req));
  const t = await createToken(input.name, input.role, principal.name);
  await audit(principal.name, 'token.create', 'ok', { id: t.id, name: t.name }, `role ${t.role}`);
  return t;
});
