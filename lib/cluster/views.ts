// What consoles show of many hosts: `instaclone hosts` and the agents' VMs in `ls`.
import os from 'node:os';
import { config } from '../config';
import type { Engine, TemplateListRow, VmListRow } from '../engine';
import { hostFacts } from './facts';
import { memorySampler, type HostMemoryUse } from './host-memory';
import { hostContents, type HostRow } from './hosts';
import { agents } from './dispatch';
import { clusterPg, schemaIdent } from './pg';

export interface HostView {
  name: string;
  state: string;
  cores: number;
  memoryBytes: number;
  qemuVersion: string;
  cpuModel: string;
  accel: string;
  templates: string[];
  vms: number;
  lastSeen: string;
  lostAt: string | null;
  lostReason: string | null;
  /** memory in use on the host (MemTotal − MemAvailable) at its last heartbeat; null before the first */
  memoryUsedBytes: number | null;
  /** of that, the PSS of the QEMUs its engine runs (sampled every 30 s at most); null when unreadable */
  qemuPssBytes: number | null;
  /** this console's own engine (single host: SQLite, or PostgreSQL without agents) */
  local?: boolean;
}

let localMemory: (() => HostMemoryUse) | undefined;

/** Every agent; without agents, this console's own host (its engine runs everything). */
export async function hostsView(engine: Engine): Promise<{ hosts: HostView[] }> {
  const rows = await agents();
  if (!rows.length) {
    const f = hostFacts();
    const l = await engine.list();
    const live = l.vms.filter((v) => v.state === 'starting' || v.state === 'running').length;
    localMemory ??= memorySampler(() => engine.qemuPids(), config().cluster.pssEveryS * 1000);
    return {
      hosts: [{ name: config().hostName, state: 'ready', ...f, memoryBytes: os.totalmem(), ...localMemory(), templates: l.templates.filter((t) => t.state === 'frozen').map((t) => t.name), vms: live, lastSeen: new Date().toISOString(), lostAt: null, lostReason: null, local: true }],
    };
  }
  return {
    hosts: await Promise.all(
      rows.map(async (h: HostRow) => {
        const c = await hostContents(h);
        return {
          name: h.name, state: h.state, cores: h.cores, memoryBytes: h.memoryBytes, qemuVersion: h.qemuVersion, cpuModel: h.cpuModel, accel: h.accel,
          templates: c.templates.map((t) => t.name), vms: c.vms, lastSeen: h.lastSeen.toISOString(),
          lostAt: h.lostAt?.toISOString() ?? null, lostReason: h.lostReason, memoryUsedBytes: h.memoryUsedBytes, qemuPssBytes: h.qemuPssBytes,
        };
      }),
    ),
  };
}

type TemplateEntry = TemplateListRow;
type VmEntry = VmListRow;

/** `ls` over every host: this console's own engine plus each agent's schema (read from the database, so a lost host's VMs show as lost). */
export async function clusterList(engine: Engine): Promise<{ templates: TemplateEntry[]; vms: VmEntry[] }> {
  const local = await engine.list();
  const rows = await agents();
  if (!rows.length) return local;
  const templates = new Map<string, TemplateEntry>(local.templates.map((t) => [t.id, { ...t, hosts: [config().hostName] }]));
  const vms: VmEntry[] = [...local.vms];
  for (const h of rows) {
    const s = schemaIdent(h.schemaName);
    const t = await clusterPg().query(`SELECT id, name, state, quiesced, "parentId", "sourceVmId", image FROM ${s}."Template" ORDER BY "createdAt"`).catch(() => ({ rows: [] }));
    for (const r of t.rows) {
      const e = templates.get(r.id);
      if (e) e.hosts = [...(e.hosts ?? []), h.name];
      else templates.set(r.id, { ...r, hosts: [h.name] });
    }
    const v = await clusterPg()
      .query(`SELECT id, name, kind, state, persistent, "templateId", pid, hostname, ip, ports, "createdAt", "lostAt", "lostReason" FROM ${s}."Vm" ORDER BY "createdAt"`)
      .catch(() => ({ rows: [] }));
    for (const r of v.rows) vms.push({ ...r, ports: safeJson(r.ports), lostAt: r.lostAt ?? undefined, lostReason: r.lostReason ?? undefined, host: h.name });
  }
  return { templates: [...templates.values()], vms };
}

function safeJson(s: string): Record<string, number> {
  try {
    return JSON.parse(s);
  } catch {
    return {};
  }
}
