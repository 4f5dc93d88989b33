// Quotas per user or token. GET (admin): every quota with what its owner holds now. PUT (admin):
// set one ({name, maxChildren, maxMemoryMiB}; both null removes it); written to the event log.
import { readJson, route } from '@/lib/api/handler';
import { audit } from '@/lib/auth/audit';
import { listQuotas, quotaUse, setQuota } from '@/lib/engine/quotas';
import { quotaSchema } from '@/lib/validations/quotas';

export const dynamic = 'force-dynamic';

export const GET = route('admin', async () => {
  const quotas = await listQuotas();
  return { quotas: await Promise.all(quotas.map(async (q) => ({ ...q, used: q.name === '*' ? null : await quotaUse(q.name) }))) };
});

export const PUT = route('admin', async ({ req, principal }) => {
  const q = quotaSchema.parse(await readJson(req));
  await setQuota(q.name, { maxChildren: q.maxChildren, maxMemoryMiB: q.maxMemoryMiB });
  const removed = q.maxChildren === null && q.maxMemoryMiB === null;
  await audit(principal.name, 'quota.set', 'ok', { name: q.name }, removed ? 'removed' : `children ${q.maxChildren ?? 'no limit'}, memory ${q.maxMemoryMiB === null ? 'no limit' : `${q.maxMemoryMiB} MiB`}`);
  return { name: q.name, maxChildren: q.maxChildren, maxMemoryMiB: q.maxMemoryMiB, removed, used: q.name === '*' ? null : await quotaUse(q.name) };
});
