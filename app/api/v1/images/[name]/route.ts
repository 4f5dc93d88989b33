import { refOnly, serve } from '@/lib/api/handler';
import { removeImage } from '@/lib/services/images';

export const dynamic = 'force-dynamic';

/** Removes an imported image (refused while a template uses it). */
export const DELETE = serve(removeImage, refOnly);
