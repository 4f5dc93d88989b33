'use client';
// The end of a prepare: timings, the template's files with their real sizes, and where to go next.
import Link from 'next/link';
import { useEffect, useState } from 'react';
import type { PrepareResult } from '@/lib/engine';
import type { FileInfo } from '@/lib/engine/template-files';
import { templateFilesAction } from '@/app/actions/templates';
import { bytes, ms } from '@/lib/client/format';
import { Button } from '@/components/ui/button';

export function PrepareDone({ result, onAnother }: { result: PrepareResult; onAnother: () => void }) {
  const [files, setFiles] = useState<FileInfo[] | null>(null);
  useEffect(() => {
    let live = true;
    void templateFilesAction({ ref: result.id }).then((r) => live && r.ok && setFiles(r.data.files)); // the result alone is enough without them
    return () => {
      live = false;
    };
  }, [result.id]);
  const total = Object.values(result.timings).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) - (result.timings.pauseMs ?? 0);
  return (
    <div className="space-y-3 rounded border border-slate-800 bg-slate-900/70 p-4" data-testid="prepare-done">
      <p className="text-sm text-slate-300">
        Frozen {result.quiesced ? 'and quiesced' : '(not quiesced)'}; boot, warm-up and freeze took {ms(total)}.
        {result.parent && (
          <>
            {' '}The parent runs on as{' '}
            <Link href={`/vms/${result.parent.id}`} className="text-sky-300 hover:underline">
              {result.parent.name}
            </Link>
            .
          </>
        )}
      </p>
      <dl className="grid grid-cols-2 gap-2 text-sm md:grid-cols-5">
        {Object.entries(result.timings)
          .filter(([, v]) => typeof v === 'number')
          .map(([k, v]) => (
            <div key={k} className="rounded border border-slate-800 bg-slate-950 px-3 py-2">
              <dt className="text-xs text-slate-400">{k.replace(/Ms$/, '')}</dt>
              <dd className="font-mono text-sky-300">{ms(v)}</dd>
            </div>
          ))}
      </dl>
      {files && (
        <p className="text-xs text-slate-300" data-testid="prepare-files">
          Files: {files.map((f) => `${f.name} ${f.missing ? 'missing' : bytes(f.sizeBytes)}`).join(' · ')}
        </p>
      )}
      <div className="flex gap-2">
        <Link prefetch={false} href={`/templates/${result.name}`} className="rounded border border-sky-500 bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-600">
          Open template {result.name}
        </Link>
        <Button onClick={onAnother}>Prepare another</Button>
      </div>
    </div>
  );
}
