import { PoolsPage } from '@/components/pools/pools-page';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Pools · Instaclone' };

export default function Page() {
  return <PoolsPage />;
}
