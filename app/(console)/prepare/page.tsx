import Link from 'next/link';
import { currentPrincipal } from '@/components/auth/session';
import { PrepareWizard } from '@/components/prepare/prepare-wizard';
import { allows } from '@/lib/auth/roles';

export const metadata = { title: 'Prepare · Instaclone' };

export default async function PreparePage() {
  // The role is known on the server: a viewer gets the reason instead of a wizard it could not finish.
  const p = await currentPrincipal();
  if (p && !allows(p.role, 'operator')) {
    return (
      <div className="max-w-2xl space-y-3">
        <h1 className="text-xl font-semibold text-white">Prepare a template</h1>
        <p role="note" data-testid="readonly-reason" className="rounded border border-slate-700 bg-slate-900 px-3 py-2 text-sm text-slate-300">
          Read-only: you are {p.name} ({p.role}). Preparing a template needs the operator role; ask an admin for an operator account or token.
        </p>
        <Link prefetch={false} href="/" className="text-sm text-sky-400 underline">
          Back to the lineage
        </Link>
      </div>
    );
  }
  return <PrepareWizard />;
}
