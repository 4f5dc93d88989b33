// Quotas per user or token (admin): every quota with what its owner holds now, and setting one
// ({name, maxChildren, maxMemoryMiB}; both null removes it), written to the event log.
import { audit } from '../auth/audit';
import { listQuotas as list, quotaUse, setQuota as set } from '../engine/quotas';
import { quotaSchema } from '../validations/quotas';
import { noInput, service } from './service';

const useOf = (name: string) => (name === '*' ? null : quotaUse(name));

export const listQuotas = service({
  role: 'admin',
  input: noInput,
  run: async () => ({ quotas: await Promise.all((await list()).map(async (q) => ({ ...q, used: await useOf(q.name) }))) }),
});

export const setQuota = service({
  role: 'admin',
  input: quotaSchema,
  run: async (a, q) => {
    await set(q.name, { maxChildren: q.maxChildren, maxMemoryMiB: q.maxMemoryMiB });
    const removed = q.maxChildren === null && q.maxMemoryMiB === null;
    await audit(a.name, 'quota.set', 'ok', { name: q.name }, removed ? 'removed' : `children ${q.maxChildren ?? 'no limit'}, memory ${q.maxMemoryMiB === null ? 'no limit' : `${q.maxMemoryMiB} MiB`}`);
    return { name: q.name, maxChildren: q.maxChildren, maxMemoryMiB: q.maxMemoryMiB, removed, used: await useOf(q.name) };
  },
});
