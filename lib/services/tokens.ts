// API tokens (admin): list, create (the secret is in this answer only), revoke. Both changes are audited.
import { audit } from '../auth/audit';
import { createToken as create, listTokens as list, revokeToken as revoke } from '../auth/tokens';
import { tokenSchema } from '../validations';
import { noInput, service } from './service';

export const listTokens = service({ role: 'admin', input: noInput, run: async () => ({ tokens: await list() }) });

export const createToken = service({
  role: 'admin',
  input: tokenSchema,
  run: async (a, input) => {
    const t = await create(input.name, input.role, a.name);
    await audit(a.name, 'token.create', 'ok', { id: t.id, name: t.name }, `role ${t.role}`);
    return t;
  },
});

export const revokeToken = service({
  role: 'admin',
  input: noInput,
  ref: true,
  run: async (a, { ref }) => {
    const t = await revoke(ref);
    await audit(a.name, 'token.revoke', 'ok', { id: ref, name: t.name });
    return { ok: true as const, revoked: ref };
  },
});
