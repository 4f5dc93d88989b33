import { Demo } from '@/components/demo/demo';

export const metadata = { title: 'Demo · Instaclone' };

export default function DemoPage() {
  return <Demo />;
}
