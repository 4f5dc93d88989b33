// Images: the list, and the upload from the browser (a streamed route: progress needs XMLHttpRequest).
// Importing from a path and deleting are server actions (app/actions/images.ts).
import type { ImportImageInput } from '@/lib/validations';
import type { Image, ImportedImage } from '../types';
import type { EngineErrorCode } from '@/lib/engine/errors';
import { api, ApiError } from './http';

export const fetchImages = async () => (await api<{ images: Image[] }>('GET', '/api/v1/images')).images;

export interface Upload {
  /** resolves with the imported image, rejects with an ApiError (or an AbortError when cancelled) */
  done: Promise<ImportedImage>;
  cancel: () => void;
}

/**
 * Uploads `file` as the request body (the server streams it to a temp file, then imports it).
 * XMLHttpRequest, not fetch: only it reports upload progress. `onProgress(sent, total)`; after the
 * last byte the server still converts the disk, which `onSent` marks.
 */
export function uploadImage(file: File, params: Omit<ImportImageInput, 'disk'>, onProgress: (sent: number, total: number) => void, onSent?: () => void): Upload {
  const xhr = new XMLHttpRequest();
  const q = new URLSearchParams({ name: params.name, format: params.format ?? 'auto', firmware: params.firmware ?? 'bios' });
  const done = new Promise<ImportedImage>((resolve, reject) => {
    xhr.open('POST', `/api/v1/images?${q}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.upload.onload = () => onSent?.();
    xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
    xhr.onerror = () => reject(new ApiError(0, 'The upload was cut off: the console does not answer; check that it runs and upload again.'));
    xhr.onload = () => {
      let data: { error?: string; code?: EngineErrorCode } | undefined;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as unknown as ImportedImage);
      else reject(new ApiError(xhr.status, data?.error ?? `HTTP ${xhr.status}`, data?.code));
    };
    xhr.send(file);
  });
  return { done, cancel: () => xhr.abort() };
}
