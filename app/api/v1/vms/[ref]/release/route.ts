import { refOnly, serve } from '@/lib/api/handler';
import { releaseVm } from '@/lib/services/vms';

export const dynamic = 'force-dynamic';

// `instaclone pool release VM`: reset back to a spare, or removed and replaced (the pool's on-release).
export const POST = serve(releaseVm, refOnly);
