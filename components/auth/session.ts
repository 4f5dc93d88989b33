// Server-side: who is looking at this page (session cookie), or null.
import { cookies } from 'next/headers';
import { principalForSession, sessionIdFrom } from '@/lib/auth/sessions';

export async function currentPrincipal() {
  const jar = await cookies();
  const id = sessionIdFrom((n) => jar.get(n)?.value);
  if (!id) return null;
  try {
    return await principalForSession(id);
  } catch {
    return null;
  }
}
