// Shared bits of the image forms and lists.
export const FIELD = 'mt-1 block w-full rounded border border-slate-600 bg-slate-950 px-2 py-1.5 text-slate-100 disabled:opacity-50';

/** How a guest of this image starts. */
export function firmwareLabel(f: string): string {
  return f === 'uefi' ? 'UEFI (OVMF)' : f === 'bios' ? 'BIOS (SeaBIOS)' : 'kernel (direct boot)';
}
