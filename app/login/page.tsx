import { safeNextPath } from '@/lib/auth/safe-next';
import { LoginForm } from '@/components/auth/auth-forms';

export const metadata = { title: 'Log in · Instaclone' };

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next } = await searchParams;
  return <LoginForm next={safeNextPath(next)} />;
}
