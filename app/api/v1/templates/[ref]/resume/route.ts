import { refOnly, serve } from '@/lib/api/handler';
import { resumeTemplate } from '@/lib/services/templates';

export const dynamic = 'force-dynamic';

export const POST = serve(resumeTemplate, refOnly);
