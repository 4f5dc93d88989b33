// Reads only: VM mutations are server actions (app/actions/vms.ts).
import type { Identity, Vm } from '../types';
import { api, enc, parseMaybe } from './http';

type Raw = Record<string, unknown>;

export function reshapeVm(raw: unknown): Vm {
  const r = (raw ?? {}) as Raw;
  const identity = parseMaybe<Identity>(r.identity, {});
  const portsRaw = parseMaybe<Record<string, unknown>>(r.ports, {});
  const ports: Record<string, number> = {};
  for (const [k, v] of Object.entries(portsRaw)) {
    const n = typeof v === 'number' ? v : Number((v as Raw)?.host ?? v);
    if (Number.isFinite(n)) ports[k] = n;
  }
  return {
    ...(r as object),
    id: String(r.id),
    name: String(r.name ?? r.id),
    kind: String(r.kind ?? 'child'),
    state: String(r.state ?? 'running'),
    persistent: Boolean(r.persistent),
    templateId: (r.templateId as string | null) ?? null,
    pid: (r.pid as number | null) ?? null,
    hostname: (r.hostname as string) ?? identity.hostname ?? null,
    mac: (r.mac as string) ?? identity.mac ?? null,
    ip: (r.ip as string) ?? identity.ip ?? null,
    machineId: (r.machineId as string) ?? identity.machineId ?? null,
    vmgenid: (r.vmgenid as string) ?? identity.vmgenid ?? null,
    ports,
    identity,
    verified: (parseMaybe<Record<string, unknown> | null>(r.verified, null) ?? undefined) as Vm['verified'],
  } as Vm;
}

export const fetchVm = async (ref: string) => {
  const r = await api<Raw>('GET', `/api/v1/vms/${enc(ref)}`);
  return reshapeVm((r.vm as Raw) ?? r);
};
