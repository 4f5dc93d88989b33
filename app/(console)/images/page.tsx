import { ImagesView } from '@/components/images/images-view';

export const metadata = { title: 'Images · Instaclone' };

export default function ImagesPage() {
  return <ImagesView />;
}
