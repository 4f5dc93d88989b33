import Link from 'next/link';
import { ErrorNote } from './misc';

/** A detail page (VM, template) before its query has data: loading, or the error with a way back. */
export function DetailMissing({ name, loading, error }: { name: string; loading: boolean; error: unknown }) {
  if (loading) return <p className="text-slate-400">Loading {name}…</p>;
  return (
    <div className="space-y-3">
      <ErrorNote error={error ?? 'Not found'} />
      <Link prefetch={false} href="/" className="text-sky-400 underline">
        Back to the lineage
      </Link>
    </div>
  );
}
