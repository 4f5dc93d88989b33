// Template replicas: a template's files are content-addressed (sha256 per file, from its seal) and
// copied agent → agent by a durable job on the receiving host's queue; every copy is verified
// against its sha256 before it is put in place, and the template row is written last, so a replica
// either exists whole or not at all.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { config } from '../config';
import { db } from '../db';
import type { MachineConfig } from '../engine/argv';
import { mkdirPrivate, rmrf, sha256File } from '../engine/disks';
import { EngineError } from '../engine/errors';
import { paths } from '../engine/paths';
import { agentSecret } from './client';
import { hostFacts, replicaRefusal } from './facts';
import { hostRow, type HostRow } from './hosts';
import { addHostJob, jobFailure, jobUtils } from './jobs';
import { clusterPg, schemaIdent } from './pg';
import { makeRoom, NO_ROOM, REPLICA_MARK } from './replica-room';

const FILES = ['ram', 'state', 'disk', 'kernel', 'initrd'] as const;
type FileKind = (typeof FILES)[number];

export interface Manifest {
  template: { id: string; name: string; image: string; quiesced: boolean; memoryMiB: number; vcpus: number; config: string; warmup: string; timings: string; compat: string };
  files: Record<FileKind, { size: number; sha256: string }>;
}

/** Where each file of a frozen template is on this host. */
async function localFiles(id: string): Promise<{ tpl: NonNullable<Awaited<ReturnType<ReturnType<typeof db>['template']['findUnique']>>>; files: Record<FileKind, string> }> {
  const tpl = await db().template.findUnique({ where: { id } });
  if (!tpl || tpl.state !== 'frozen') throw new EngineError('not_found', `This host has no frozen template ${id}.`);
  const m = JSON.parse(tpl.config) as MachineConfig;
  if (m.boot && m.boot !== 'kernel') throw new EngineError('conflict', importedRefusal(tpl.name));
  return { tpl, files: { ram: tpl.ramPath, state: tpl.statePath, disk: tpl.diskPath, kernel: m.kernel, initrd: m.initrd } };
}

/**
 * Why an imported (firmware-booted) template does not replicate: its base disk is a thin overlay on
 * the operator's imported disk (often many GiB) at a path that only exists on its own host, and its
 * firmware vars store pairs with that disk; copying it would mean importing the image on the other host.
 */
export const importedRefusal = (name: string, to?: string) =>
  `Template "${name}" boots an imported disk through firmware: its disk is an overlay on the imported image, which exists only where it was imported, so it is not replicated; import the image on ${to ? `host "${to}"` : 'the other host'} and prepare the template there.`;

const sums = new Map<string, string>(); // kernel/initrd: path+mtime → sha256 (templates carry the rest)

async function sha(file: string, known?: string): Promise<string> {
  if (known) return known;
  const st = fs.statSync(file);
  const k = `${file}:${st.mtimeMs}:${st.size}`;
  if (!sums.has(k)) sums.set(k, await sha256File(file));
  return sums.get(k)!;
}

/** Source side: the template's row and its files' sizes and sha256. */
export async function templateManifest(id: string): Promise<Manifest> {
  const { tpl, files } = await localFiles(id);
  const sealed = JSON.parse(tpl.checksums || '{}') as Record<string, string>;
  const out = {} as Manifest['files'];
  for (const k of FILES) out[k] = { size: fs.statSync(files[k]).size, sha256: await sha(files[k], sealed[k]) };
  const { name, image, quiesced, memoryMiB, vcpus, config, warmup, timings, compat } = tpl;
  return { template: { id, name, image, quiesced, memoryMiB, vcpus, config, warmup, timings, compat }, files: out };
}

/** Source side: GET /v1/templates/ID/files/KIND streams one file (KIND from a fixed list, ID looked up). */
export async function serveTemplateFile(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
  const m = /^\/v1\/templates\/([A-Za-z0-9_-]{1,100})\/files\/([a-z]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
  if (!m || req.method !== 'GET') return false;
  if (!(FILES as readonly string[]).includes(m[2])) throw new EngineError('not_found', `No template file "${m[2]}".`);
  const { files } = await localFiles(m[1]);
  const f = files[m[2] as FileKind];
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(f).size });
  await pipeline(fs.createReadStream(f, { highWaterMark: 1 << 20 }), res);
  return true;
}

/** Receiving side: downloads into `dest`.part, hashing as it writes; renamed only when the sha256 matches. */
async function fetchFile(from: HostRow, id: string, kind: FileKind, want: { size: number; sha256: string }, dest: string): Promise<void> {
  const res = await fetch(new URL(`/v1/templates/${id}/files/${kind}`, from.url), { headers: { authorization: `Bearer ${agentSecret()}` } });
  if (!res.ok || !res.body) throw new Error(`Host "${from.name}" did not send the template's ${kind} file (HTTP ${res.status}).`);
  const part = `${dest}.part`;
  const h = createHash('sha256');
  const hashing = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      h.update(c);
      yield c;
    }
  };
  try {
    // opened here, at once: a stream opening its file later could create it after the clean-up below
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    const out = fs.createWriteStream(part, { fd: fs.openSync(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600) });
    await pipeline(Readable.fromWeb(res.body as never), hashing, out);
    const got = h.digest('hex');
    if (got !== want.sha256) throw new Error(`The ${kind} file copied from "${from.name}" has sha256 ${got}, expected ${want.sha256}: the copy is damaged; the job retries.`);
    fs.chmodSync(part, 0o444);
    fs.renameSync(part, dest);
  } catch (e) {
    rmrf(part);
    throw e;
  }
}

/** Receiving side (the job "replicate@THIS_HOST"): copy, verify, then record the template. */
export async function replicateHere(payload: { templateId: string; from: string }, me: string): Promise<'done' | 'present'> {
  const { templateId: id, from: fromName } = payload;
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new Error(`Refusing template id "${id}".`);
  if (await db().template.findFirst({ where: { id, state: 'frozen' } })) return 'present';
  const from = await hostRow(fromName);
  const refusal = replicaRefusal({ ...from, name: from.name }, { ...hostFacts(), name: me });
  if (refusal) throw new Error(refusal);
  const res = await fetch(new URL(`/v1/templates/${id}/manifest`, from.url), { headers: { authorization: `Bearer ${agentSecret()}` } });
  const man = (await res.json()) as Manifest & { error?: string };
  if (!res.ok) throw new Error(`Host "${from.name}": ${man.error ?? `HTTP ${res.status}`}`);
  const t = man.template;
  const dest: Record<FileKind, string> = {
    ram: paths.templateRam(id),
    state: paths.templateState(id),
    disk: paths.templateDisk(id),
    kernel: path.join(paths.templateHomeDir(id), 'kernel'),
    initrd: path.join(paths.templateHomeDir(id), 'initrd'),
  };
  const evicted = await makeRoom(man.files.ram.size, t.name, me);
  if (evicted.length) console.log(`instaclone agent: evicted unused replica(s) ${evicted.join(', ')} to make room for template "${t.name}"`);
  mkdirPrivate(paths.templateHomeDir(id));
  mkdirPrivate(paths.templateRunDir(id));
  try {
    fs.writeFileSync(path.join(paths.templateHomeDir(id), REPLICA_MARK), `${from.name}\n`, { mode: 0o600 }); // evictable when unused
    for (const k of FILES) {
      if (fs.existsSync(dest[k]) && (await sha256File(dest[k])) === man.files[k].sha256) continue; // a retried job keeps good copies
      await fetchFile(from, id, k, man.files[k], dest[k]);
    }
    const machine = { ...(JSON.parse(t.config) as MachineConfig), kernel: dest.kernel, initrd: dest.initrd };
    const checksums = JSON.stringify({ ram: man.files.ram.sha256, state: man.files.state.sha256, disk: man.files.disk.sha256 });
    await db().template.create({
      data: {
        id, name: t.name, state: 'frozen', image: t.image, quiesced: t.quiesced, memoryMiB: t.memoryMiB, vcpus: t.vcpus,
        dir: paths.templateHomeDir(id), ramPath: dest.ram, statePath: dest.state, diskPath: dest.disk,
        checksums, config: JSON.stringify(machine), warmup: t.warmup, timings: t.timings, compat: t.compat, frozenAt: new Date(),
      },
    });
  } catch (e) {
    if (!(await db().template.findFirst({ where: { id } }))) {
      // nothing half-made stays (files are re-fetched and re-verified by the retry)
      rmrf(paths.templateHomeDir(id));
      rmrf(paths.templateRunDir(id));
    }
    throw e;
  }
  return 'done';
}


/**
 * Console side: makes sure host `to` holds template `tpl` (a job on `to`'s queue, keyed by template
 * and host so concurrent forks share one copy), and waits for it. Refused with the reason when
 * `to` could not load the template's checkpoint.
 */
export async function ensureReplica(tpl: { id: string; name: string; hosts: HostRow[] }, to: HostRow): Promise<void> {
  const from = tpl.hosts.find((h) => h.state !== 'lost');
  if (!from) throw new EngineError('unavailable', `Every host holding template "${tpl.name}" is lost; it cannot be copied to "${to.name}" now.`);
  const refusal = replicaRefusal(from, to);
  if (refusal) throw new EngineError('conflict', refusal);
  // refused here rather than by a job that fails three times on the source's answer
  const cfg = await clusterPg().query(`SELECT config FROM ${schemaIdent(from.schemaName)}."Template" WHERE id = $1`, [tpl.id]).catch(() => ({ rows: [] as { config: string }[] }));
  const boot = cfg.rows[0] ? (JSON.parse(cfg.rows[0].config) as MachineConfig).boot : undefined;
  if (boot && boot !== 'kernel') throw new EngineError('conflict', importedRefusal(tpl.name, to.name));
  const job = await addHostJob('replicate', to.name, { templateId: tpl.id, from: from.name }, `replicate:${tpl.id}:${to.name}`);
  const waitS = config().cluster.replicaWaitS;
  const until = Date.now() + waitS * 1000;
  for (;;) {
    const r = await clusterPg().query(`SELECT 1 FROM ${schemaIdent(to.schemaName)}."Template" WHERE id = $1 AND state = 'frozen'`, [tpl.id]).catch(() => ({ rowCount: 0 }));
    if (r.rowCount) return;
    const f = await jobFailure(job);
    if (f?.lastError?.includes(NO_ROOM)) {
      // no room even after evicting unused replicas: retrying will not help until someone frees space
      await (await jobUtils()).permanentlyFailJobs([job], f.lastError).catch(() => undefined);
      throw new EngineError('insufficient', f.lastError.split('\n')[0]);
    }
    if (f && f.attempts >= f.maxAttempts) throw new EngineError('qemu', `Copying template "${tpl.name}" to host "${to.name}" failed ${f.attempts} times: ${f.lastError?.split('\n')[0]}`);
    if (Date.now() > until) throw new EngineError('unavailable', `Template "${tpl.name}" was not copied to host "${to.name}" within ${waitS} s (is its agent running?); the copy job stays queued.`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
