'use server';
// Server actions for images (lib/services/images). Uploads stay a streamed route (POST /api/v1/images).
// An import from a path answers {operationId} at once; the form follows it.
import { runAction, runStart } from '@/lib/api/action';
import * as images from '@/lib/services/images';
import type { ImportImageInput } from '@/lib/validations';

export async function importImageAction(input: ImportImageInput) {
  return runStart(images.importImage, input);
}
export async function removeImageAction(input: { ref: string }) {
  return runAction(images.removeImage, input);
}
