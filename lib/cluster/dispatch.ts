// Many hosts, console side: is there a cluster, where does a template live, which host gets a fork,
// and forwarding the fast path (prepare, fork, VM actions) to the chosen agent. With SQLite, or
// PostgreSQL without agents, every function here answers null and the local engine does the work.
import { randomUUID } from 'node:crypto';
import { config } from '../config';
import type { ForkResult, LiveForkResult, PrepareResult } from '../engine';
import type { LiveForkInput } from '../validations';
import { EngineError } from '../engine/errors';
import type { ClusterForkInput, ClusterPrepareInput } from '../validations/hosts';
import { callAgent } from './client';
import { forkRequestKey } from './fork-request';
import { hostContents, hostRows, type HostRow } from './hosts';
import { clusterCapable, clusterPg, schemaIdent } from './pg';
import { ensureReplica } from './replicate';

const MiB = 1024 * 1024;
/** Candidates compared per placement ("best of a few", not a scan of every host). */
const FEW = 3;

let cache: { at: number; hosts: HostRow[] } | null = null;

/** Registered agents (any state), cached 1 s; [] with SQLite. */
export async function agents(): Promise<HostRow[]> {
  if (!clusterCapable()) return [];
  if (cache && Date.now() - cache.at < 1000) return cache.hosts;
  const hosts = await hostRows().catch(() => [] as HostRow[]); // 0007 not applied yet: no agents
  cache = { at: Date.now(), hosts };
  return hosts;
}

/** Many hosts are in use: PostgreSQL and at least one agent that is not lost. */
export async function clusterActive(): Promise<boolean> {
  return (await agents()).some((h) => h.state !== 'lost');
}

function noCluster(host: string | undefined): null {
  if (host && host !== config().hostName) {
    throw new EngineError('invalid', `There is no host "${host}": pinning needs agents on a shared PostgreSQL (README "Many hosts"); this console runs everything on "${config().hostName}".`);
  }
  return null;
}

export interface TemplateHome {
  id: string;
  name: string;
  memoryMiB: number;
  hosts: HostRow[];
}

/** The template named `ref` (id or name) and every host holding a frozen copy of it. */
export async function locateTemplate(ref: string): Promise<TemplateHome> {
  const found = new Map<string, TemplateHome>();
  for (const h of await agents()) {
    const r = await clusterPg()
      .query(`SELECT id, name, "memoryMiB" FROM ${schemaIdent(h.schemaName)}."Template" WHERE state = 'frozen' AND (id = $1 OR name = $1)`, [ref])
      .catch(() => ({ rows: [] as { id: string; name: string; memoryMiB: number }[] }));
    for (const t of r.rows) {
      const e = found.get(t.id) ?? { id: t.id, name: t.name, memoryMiB: t.memoryMiB, hosts: [] as HostRow[] };
      e.hosts.push(h);
      found.set(t.id, e);
    }
  }
  if (found.size > 1) throw new EngineError('conflict', `"${ref}" names different templates on several hosts; use the template's id.`);
  const t = [...found.values()][0];
  if (!t) throw new EngineError('not_found', `No frozen template named "${ref}" on any host; list them with \`instaclone ls\`.`);
  return t;
}

/** Best of a few hosts that can take more children: most memory left per live VM, ties by name. */
async function rank(hosts: HostRow[], memoryMiB: number): Promise<HostRow[]> {
  const sample = [...hosts].sort(() => Math.random() - 0.5).slice(0, FEW);
  const scored = await Promise.all(sample.map(async (h) => ({ h, free: h.memoryBytes - (await hostContents(h)).vms * memoryMiB * MiB })));
  return scored.sort((a, b) => b.free - a.free || a.h.name.localeCompare(b.h.name)).map((s) => s.h);
}

export type RoutedFork = (ForkResult | LiveForkResult) & { host: string; requestId: string };

/**
 * Fork through an agent: pinned (`host`) or placed on a ready host that holds the template; a pinned
 * host without it gets a replica first. Null when there are no agents (the local engine forks).
 * `fork` is parsed already (the service's one parse, lib/services/service.ts). `principal` (lib/services
 * principalKey; the actor by default) scopes the request id: the agents keep forkRequestKey(principal,
 * id), so another caller's id is never this caller's.
 */
export async function routeFork(ref: string, fork: ClusterForkInput, actor: string, principal = actor): Promise<RoutedFork | null> {
  const { host, requestId = randomUUID(), ...input } = fork;
  if (!(await clusterActive())) return noCluster(host);
  const key = forkRequestKey(principal, requestId);
  const tpl = await locateTemplate(ref).catch((e: unknown) => e as EngineError);
  if (tpl instanceof Error) {
    // not a template: a running VM on an agent is a live fork, which runs where that VM runs
    const vm = tpl.code === 'not_found' ? await locateVmRow(ref) : null;
    if (!vm) throw tpl;
    return routeLiveFork(vm, host, requestId, key, input, actor);
  }
  let order: HostRow[];
  const prior = await hostOfRequest(key);
  if (prior) {
    // a retry: back to the host that has this id (its agent answers with the first outcome)
    order = [prior];
  } else if (host) {
    const h = (await agents()).find((x) => x.name === host);
    if (!h) throw new EngineError('not_found', `No host named "${host}"; list them with \`instaclone hosts\`.`);
    if (h.state !== 'ready') throw new EngineError('conflict', `Host "${host}" is ${h.state}${h.lostReason ? ` (${h.lostReason})` : ''}: it takes no new children; pick another host.`);
    if (!tpl.hosts.some((x) => x.name === host)) await ensureReplica(tpl, h);
    order = [h];
  } else {
    const ready = tpl.hosts.filter((h) => h.state === 'ready');
    if (!ready.length) {
      throw new EngineError('unavailable', `No ready host holds template "${tpl.name}" (on: ${tpl.hosts.map((h) => `${h.name} ${h.state}`).join(', ')}); pin a ready host with --host to replicate it there.`);
    }
    order = await rank(ready, tpl.memoryMiB);
  }
  let last: unknown;
  for (const h of order) {
    try {
      const r = await callAgent<ForkResult | LiveForkResult>(h, 'POST', '/v1/fork', { ...input, template: tpl.id, requestId: key }, actor);
      return { ...r, host: h.name, requestId };
    } catch (e) {
      last = e;
      // full: the next candidate; anything else (e.g. a timeout) must not fork again elsewhere
      if (!(e instanceof EngineError && e.code === 'insufficient')) throw e;
    }
  }
  throw last;
}

/** `POST /api/v1/vms/REF/fork`: a live fork of VM `ref` on the agent that runs it; null without agents or when no agent has it (this engine forks). */
export async function routeVmLiveFork(ref: string, fork: ClusterForkInput, actor: string, principal = actor): Promise<(LiveForkResult & { host?: string; requestId?: string }) | null> {
  const { host, requestId = randomUUID(), ...input } = fork;
  if (!(await clusterActive())) return noCluster(host);
  const vm = await locateVmRow(ref);
  return vm ? routeLiveFork(vm, host, requestId, forkRequestKey(principal, requestId), input, actor) : null;
}

/** A live fork of VM `vm` on its own host (its memory and disk are there), idempotent by `requestId` (kept as `key`) like any fork. */
async function routeLiveFork(vm: VmHome, host: string | undefined, requestId: string, key: string, input: LiveForkInput, actor: string): Promise<LiveForkResult & { host: string; requestId: string }> {
  const h = vm.host;
  if (host && host !== h.name) throw new EngineError('conflict', `VM "${vm.name}" runs on host "${h.name}" and a live fork runs where its VM runs: pin "${h.name}" or leave --host out.`);
  const prior = await hostOfRequest(key);
  if (prior && prior.name !== h.name) throw new EngineError('conflict', `Fork request id ${requestId} was already used on host "${prior.name}"; send a new request id.`);
  if (h.state !== 'ready' && !prior) {
    throw new EngineError(h.state === 'lost' ? 'unavailable' : 'conflict', `VM "${vm.name}" is on host "${h.name}", which is ${h.state}${h.lostReason ? ` (${h.lostReason})` : ''}: it takes no new children now.`);
  }
  const r = await callAgent<LiveForkResult>(h, 'POST', '/v1/fork', { ...input, template: vm.id, requestId: key }, actor);
  return { ...r, host: h.name, requestId };
}

/** The host whose agent recorded request `key` in `table`, if any (lost hosts included: their schema stays readable). */
export async function hostRecording(table: 'ForkRequest' | 'ClaimRequest', key: string): Promise<HostRow | null> {
  for (const h of await agents()) {
    const r = await clusterPg()
      .query(`SELECT 1 FROM ${schemaIdent(h.schemaName)}."${table}" WHERE key = $1`, [key])
      .catch(() => ({ rowCount: 0 }));
    if (r.rowCount) return h;
  }
  return null;
}

/** The host that already holds fork request `key` (forkRequestKey: this caller's), if any (a retry must not be placed elsewhere). */
const hostOfRequest = (key: string) => hostRecording('ForkRequest', key);

/** Prepare on the pinned host, or on the ready host with the most memory left. Null without agents. */
export async function routePrepare(prepare: ClusterPrepareInput, actor: string): Promise<(PrepareResult & { host: string }) | null> {
  const { host, ...input } = prepare;
  if (!(await clusterActive())) return noCluster(host);
  const all = await agents();
  for (const h of all) {
    const clash = await clusterPg()
      .query(`SELECT 1 FROM ${schemaIdent(h.schemaName)}."Template" WHERE name = $1 UNION ALL SELECT 1 FROM ${schemaIdent(h.schemaName)}."Vm" WHERE name = $1`, [input.name])
      .catch(() => ({ rowCount: 0 }));
    if (clash.rowCount) throw new EngineError('conflict', `The name "${input.name}" is taken on host "${h.name}"; choose another name.`);
  }
  const ready = all.filter((h) => h.state === 'ready' && (!host || h.name === host));
  if (!ready.length) throw new EngineError(host ? 'not_found' : 'unavailable', host ? `No ready host named "${host}"; list them with \`instaclone hosts\`.` : 'No host is ready for a new template (all are draining or lost).');
  const [h] = await rank(ready, input.memory);
  return { ...(await callAgent<PrepareResult>(h, 'POST', '/v1/prepare', input, actor)), host: h.name };
}

export interface VmHome {
  id: string;
  name: string;
  host: HostRow;
}

/** VM `ref` (id or name) and the agent whose schema holds it, or null when no agent has it. */
export async function locateVmRow(ref: string): Promise<VmHome | null> {
  for (const h of await agents()) {
    const r = await clusterPg()
      .query(`SELECT id, name FROM ${schemaIdent(h.schemaName)}."Vm" WHERE id = $1 OR name = $1 LIMIT 1`, [ref])
      .catch(() => ({ rows: [] as { id: string; name: string }[] }));
    if (r.rows[0]) return { ...r.rows[0], host: h };
  }
  return null;
}

/** The host whose schema holds VM `ref` (id or name), or null when no agent has it. */
export async function locateVm(ref: string): Promise<HostRow | null> {
  return (await locateVmRow(ref))?.host ?? null;
}

/** stop / start / reset / remove of a VM that lives on an agent; null when it is not on one. */
export async function routeVmAction(ref: string, action: 'stop' | 'start' | 'reset' | 'remove', actor: string, force = false): Promise<unknown | null> {
  if (!(await clusterActive())) return null;
  const h = await locateVm(ref);
  if (!h) return null;
  if (h.state === 'lost') throw new EngineError('unavailable', `VM "${ref}" is on host "${h.name}", which is lost (${h.lostReason}); wait for its agent to come back.`);
  const p = `/v1/vms/${encodeURIComponent(ref)}`;
  return action === 'remove' ? callAgent(h, 'DELETE', `${p}${force ? '?force=1' : ''}`, undefined, actor) : callAgent(h, 'POST', `${p}/${action}`, {}, actor);
}
