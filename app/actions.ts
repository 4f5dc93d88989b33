'use server';
// Server actions for what the REST API does not say: they check the session like the API does and
// return errors as values ({error}), never throw to the page.
import fs from 'node:fs/promises';
import { currentPrincipal } from '@/components/auth/session';
import { db } from '@/lib/db';

export interface FileInfo {
  name: string;
  path: string;
  sizeBytes: number;
  allocatedBytes: number;
  missing?: boolean;
}

/** The template's files with their apparent and allocated sizes (a qcow2 overlay is small until written). */
export async function templateFiles(ref: string): Promise<{ files: FileInfo[] } | { error: string }> {
  if (!(await currentPrincipal())) return { error: 'Log in first.' };
  try {
    const t = (await db().template.findUnique({ where: { id: ref } })) ?? (await db().template.findUnique({ where: { name: ref } }));
    if (!t) return { error: `No template named or with id "${ref}".` };
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
  } catch (e) {
    return { error: (e as Error).message };
  }
}
