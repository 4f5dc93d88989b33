// Server-side: who is looking at this page (session cookie), or null.
import { cookies } from 'next/headers';
import { principalForSession, SESSION_COOKIE } from '@/lib/auth/sessions';

export async function currentPrincipal() {
  const id = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!id) return null;
  try {
    return await principalForSession(id);
  } catch {
    return null;
  }
}
