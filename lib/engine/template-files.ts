// A template's files with their apparent and allocated sizes (a qcow2 overlay is small until written).
import fs from 'node:fs/promises';
import { templateByRef } from './refs';

export interface FileInfo {
  name: string;
  path: string;
  sizeBytes: number;
  allocatedBytes: number;
  missing?: boolean;
}

export async function templateFiles(ref: string): Promise<{ files: FileInfo[] }> {
  const t = await templateByRef(ref);
  const entries: [string, string][] = [
    ['RAM file (shared, copy-on-write in children)', t.ramPath],
    ['device checkpoint', t.statePath],
    ['base disk', t.diskPath],
  ];
  const files = await Promise.all(
    entries.map(async ([name, path]) => {
      try {
        const st = await fs.stat(path);
        return { name, path, sizeBytes: st.size, allocatedBytes: st.blocks * 512 };
      } catch {
        return { name, path, sizeBytes: 0, allocatedBytes: 0, missing: true };
      }
    }),
  );
  return { files };
}
