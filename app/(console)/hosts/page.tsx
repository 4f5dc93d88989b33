import { HostsPage } from '@/components/hosts/hosts-page';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Hosts · Instaclone' };

export default function Page() {
  return <HostsPage />;
}
