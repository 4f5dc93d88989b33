import { route } from '@/lib/api/handler';
import { config } from '@/lib/config';
import { listImages } from '@/lib/guest/images';

export const dynamic = 'force-dynamic';

export const GET = route('viewer', async () => {
  const images = await listImages(config().home);
  return { images: images.map((m) => ({ name: m.name, sizeBytes: m.sizeBytes, kernel: m.kernel, builtAt: m.builtAt })) };
});
