import { Demo } from '@/components/demo/demo';
import { PoolDemo } from '@/components/demo/pool-demo';

export const metadata = { title: 'Demo · Instaclone' };

export default function DemoPage() {
  return (
    <div className="space-y-6">
      <Demo />
      <PoolDemo />
    </div>
  );
}
