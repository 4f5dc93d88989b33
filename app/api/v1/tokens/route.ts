import { readJson, route } from '@/lib/api/handler';
import { createToken, listTokens } from '@/lib/auth/tokens';
import { tokenSchema } from '@/lib/validations';

export const dynamic = 'force-dynamic';

export const GET = route('admin', async () => ({ tokens: await listTokens() }));

// The secret is in this answer only: it is stored as a hash.
export const POST = route('admin', async ({ req, principal }) => {
  const input = tokenSchema.parse(await readJson(req));
  return createToken(input.name, input.role, principal.name);
});
