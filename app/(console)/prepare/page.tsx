import { PrepareWizard } from '@/components/prepare/prepare-wizard';

export const metadata = { title: 'Prepare · Instaclone' };

export default function PreparePage() {
  return <PrepareWizard />;
}
