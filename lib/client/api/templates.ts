// Reads only: template mutations are server actions (app/actions/templates.ts).
import type { Template, TemplateFile, Timings, WarmupResult } from '../types';
import { api, enc, parseMaybe } from './http';

type Raw = Record<string, unknown>;
const num = (v: unknown, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : d);

function reshapeSlots(r: Raw): Template['slots'] {
  const s = r.slots as unknown;
  if (Array.isArray(s)) {
    const pre = s.filter((x: Raw) => x.prelaunched).length;
    return { total: s.length, free: s.length, used: 0, prelaunched: pre };
  }
  if (s && typeof s === 'object') {
    const o = s as Raw;
    const total = num(o.total, num(o.free) + num(o.used));
    return { total, free: num(o.free, total - num(o.used)), used: num(o.used), prelaunched: num(o.prelaunched) };
  }
  const free = num(r.slotsFree, num(s));
  return { total: num(r.slotsTotal, free), free, used: num(r.slotsUsed), prelaunched: num(r.prelaunched) };
}

function reshapeFiles(r: Raw): TemplateFile[] {
  const f = r.files as unknown;
  if (Array.isArray(f)) return f.map((x: Raw) => ({ name: String(x.name ?? x.path ?? ''), path: x.path as string | undefined, sizeBytes: num(x.sizeBytes ?? x.size) }));
  if (f && typeof f === 'object') return Object.entries(f as Raw).map(([name, v]) => ({ name, sizeBytes: typeof v === 'object' && v ? num((v as Raw).sizeBytes ?? (v as Raw).size) : num(v) }));
  const out: TemplateFile[] = [];
  for (const k of ['ramPath', 'statePath', 'diskPath'] as const) if (typeof r[k] === 'string') out.push({ name: k.replace('Path', ''), path: r[k] as string, sizeBytes: NaN });
  return out;
}

export function reshapeTemplate(raw: unknown): Template {
  const r = (raw ?? {}) as Raw;
  return {
    ...(r as object),
    id: String(r.id),
    name: String(r.name ?? r.id),
    state: String(r.state ?? 'frozen'),
    quiesced: Boolean(r.quiesced),
    parentId: (r.parentId as string | null) ?? null,
    timings: parseMaybe<Timings>(r.timings, {}),
    warmup: parseMaybe<WarmupResult[]>(r.warmup, []),
    files: reshapeFiles(r),
    slots: reshapeSlots(r),
  } as Template;
}

export const fetchTemplate = async (ref: string) => {
  const r = await api<Raw>('GET', `/api/v1/templates/${enc(ref)}`);
  return reshapeTemplate((r.template as Raw) ?? r);
};
