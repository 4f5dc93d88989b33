'use server';
// Server actions for images (lib/services/images). Uploads stay a streamed route (POST /api/v1/images).
import { runAction } from '@/lib/api/action';
import * as images from '@/lib/services/images';
import type { ImportImageInput } from '@/lib/validations';

export async function importImageAction(input: ImportImageInput) {
  return runAction(images.importImage, input);
}
export async function removeImageAction(input: { ref: string }) {
  return runAction(images.removeImage, input);
}
