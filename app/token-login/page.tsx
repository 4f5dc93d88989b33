import { TokenLoginForm } from '@/components/auth/auth-forms';

export const metadata = { title: 'Wall log-in · Instaclone' };

export default function TokenLoginPage() {
  return <TokenLoginForm />;
}
