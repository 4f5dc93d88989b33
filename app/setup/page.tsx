import { SetupForm } from '@/components/auth/auth-forms';

export const metadata = { title: 'Set up · Instaclone' };

export default async function SetupPage({ searchParams }: { searchParams: Promise<{ token?: string }> }) {
  const { token } = await searchParams;
  return <SetupForm token={token ?? ''} />;
}
