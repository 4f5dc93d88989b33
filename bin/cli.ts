// instaclone CLI: parses the DESIGN.md command line, calls the REST API, prints a table or --json.
// Errors: exit 1 and one line on stderr saying what was wrong and what to do.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { config } from '../lib/config';
import { poolCommand, POOL_USAGE } from './pool';
import { quotaCommand, QUOTA_USAGE } from './quota';
import { forTerminal, json, plain } from './terminal';
import type { Engine, ForkResult, ImageView, ImportedImage, LiveForkResult, PrepareResult } from '../lib/engine';
import type { Ls } from '../lib/contract';
import { describeZodError, execSchema, importImageSchema } from '../lib/validations';
import { resetManySchema } from '../lib/validations/actions';
import { clusterForkSchema, clusterPrepareSchema } from '../lib/validations/hosts';

const USAGE = `usage:
  instaclone prepare --image tiny|debian|IMPORTED --name NAME [--warmup CMD]... [--slots N] [--prelaunch] [--quiesce] [--keep-parent] [--memory MiB] [--port GUESTPORT]... [--network isolated|outbound] [--boot-timeout SECONDS] [--host NAME] [--json]
  instaclone fork PARENT --count N [--persistent] [--prefix P] [--port GUESTPORT]... [--ssh-keys | --keep-ssh-keys] [--host NAME] [--request-id ID] [--json]
  instaclone fork VM --count N [--quiesce] [--persistent] [--prefix P] [--json]   (live fork of a running VM)
    (--port: guest TCP ports forwarded from 127.0.0.1; prepare sets the template's list, default 80 and 22; fork overrides it)
  instaclone images [--json]
  instaclone images import NAME --disk FILE [--format auto|qcow2|raw|vmdk|vdi|vhdx|vpc] [--firmware bios|uefi] [--json]
  instaclone images rm NAME
  instaclone ls [--json]
  instaclone hosts [--json] | hosts drain NAME | hosts ready NAME   (many hosts: agents on a shared PostgreSQL)
  instaclone stats [--json]
  instaclone exec VM -- CMD...
  instaclone stop VM | start VM | reset VM | rm VM|PARENT [--force]
  instaclone reset VM VM... [--detach] [--json]   (many VMs back to their template's state: one operation, each VM's outcome)
  instaclone operation ID [--json]    (state, progress and result of a long action)
${POOL_USAGE}
${QUOTA_USAGE}
  prepare, fork, reset of many, images import and pool push wait and print their result; with --detach they print
  {"operation": ID} at once and go on in the console (follow it with instaclone operation ID).
environment: INSTACLONE_URL (default http://localhost:$PORT), INSTACLONE_TOKEN (default: the local admin token)`;

class CliError extends Error {}

function baseUrl(): string {
  return config().cli.url;
}

function token(): string | undefined {
  const given = config().cli.token;
  if (given) return given;
  try {
    return fs.readFileSync(path.join(config().home, 'admin.token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

// CommonJS require: the bundle (and its snapshot) has it; tsx's ESM has not (a snapshot cannot import())
const builtin = (name: string) => (typeof require === 'function' ? require(name) : createRequire(import.meta.url)(name));

/**
 * One HTTP request with node:http(s): Node's fetch loads undici on first use, which cost more than
 * the rest of a short CLI call (0.6 s wall on a loaded 2-core host). No timeout: prepare and fork wait.
 * node:http(s) is required when used: https loads TLS, and neither can be in the start-up snapshot.
 */
function request(method: string, url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; ok: boolean; text: string }> {
  const u = new URL(url);
  const mod: typeof import('node:http') = builtin(u.protocol === 'https:' ? 'node:https' : 'node:http');
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// T: what the route answers, the engine's own result type (type-only imports: nothing of the engine is bundled)
async function api<T = any>(method: string, route: string, body?: unknown): Promise<T> {
  const t = token();
  let res: { status: number; ok: boolean; text: string };
  try {
    res = await request(method, `${baseUrl()}/api/v1${route}`, { 'content-type': 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}) }, body === undefined ? undefined : JSON.stringify(body));
  } catch {
    throw new CliError(`Cannot reach the Instaclone console at ${baseUrl()}: start it with "npm start" or set INSTACLONE_URL.`);
  }
  const text = res.text;
  let data: any;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new CliError(`The console answered ${res.status} with something that is not JSON: is INSTACLONE_URL right?`);
  }
  if (!res.ok) {
    const hint = res.status === 401 && !t ? ' (no token: set INSTACLONE_TOKEN)' : '';
    throw Object.assign(new CliError(`${data.error ?? `HTTP ${res.status}`}${hint}`), { status: res.status, data });
  }
  return data;
}

/**
 * A long action (an operation on the console): waits for its result as before, or with --detach asks
 * the console not to wait (?wait=0) and prints {"operation": ID} (DESIGN.md "Contracts").
 */
async function longApi<T>(detach: boolean, method: string, route: string, body?: unknown): Promise<{ detached: true } | { detached: false; r: T }> {
  if (!detach) return { detached: false, r: await api<T>(method, route, body) };
  const r = await api<{ operationId: string }>(method, `${route}${route.includes('?') ? '&' : '?'}wait=0`, body);
  console.log(json({ operation: r.operationId }));
  return { detached: true };
}

/** Numbers go to the server as numbers when they parse, else as given, so the shared schema explains. */
const num = (v: string | undefined) => (v === undefined ? undefined : v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v);
const enc = encodeURIComponent;

/** The request as typed, checked first against the schema the console parses with: a bad value is
 *  refused here with the console's own sentence, before any connection (the console checks again). */
function checked<T>(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, body: T): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new CliError(describeZodError(r.error as import('zod').ZodError));
  return body;
}

/** Columns are keys of the rows' own type: a column the server does not send is a type error. */
function table<T extends object>(rows: T[], cols: (keyof T & string)[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf('--');
  const before = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const after = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  const { values: o, positionals } = parseArgs({
    args: before,
    allowPositionals: true,
    strict: true,
    options: {
      image: { type: 'string' },
      name: { type: 'string' },
      warmup: { type: 'string', multiple: true },
      slots: { type: 'string' },
      prelaunch: { type: 'boolean' },
      quiesce: { type: 'boolean' },
      network: { type: 'string' },
      'keep-parent': { type: 'boolean' },
      memory: { type: 'string' },
      vcpus: { type: 'string' },
      count: { type: 'string' },
      persistent: { type: 'boolean' },
      prefix: { type: 'string' },
      port: { type: 'string', multiple: true },
      force: { type: 'boolean' },
      timeout: { type: 'string' },
      disk: { type: 'string' },
      format: { type: 'string' },
      firmware: { type: 'string' },
      'boot-timeout': { type: 'string' },
      'ssh-keys': { type: 'boolean' },
      'keep-ssh-keys': { type: 'boolean' },
      json: { type: 'boolean' },
      host: { type: 'string' },
      'request-id': { type: 'string' },
      detach: { type: 'boolean' },
      // pool
      template: { type: 'string' },
      size: { type: 'string' },
      spares: { type: 'string' },
      'on-release': { type: 'string' },
      ttl: { type: 'string' },
      label: { type: 'string' },
      wait: { type: 'string' },
      // quota
      children: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...args] = positionals;
  const out = (data: unknown, human: () => string) => console.log(o.json ? json(data) : plain(human())); // text may quote a guest
  const need = (what: string) => {
    if (!args[0]) throw new CliError(`${cmd} needs a ${what}: instaclone ${cmd} ${what.toUpperCase()} (see instaclone --help).`);
    return args[0];
  };

  if (o.help || !cmd) {
    console.log(USAGE);
    return cmd || o.help ? 0 : 2;
  }
  switch (cmd) {
    case 'prepare': {
      if (!o.name) throw new CliError('prepare needs --name NAME (lower-case letters, digits and "-").');
      const a = await longApi<PrepareResult>(!!o.detach, 'POST', '/templates', checked(clusterPrepareSchema, {
        image: o.image ?? 'tiny',
        name: o.name,
        warmup: o.warmup ?? [],
        slots: num(o.slots) ?? 0,
        prelaunch: !!o.prelaunch,
        quiesce: !!o.quiesce,
        ...(o['keep-parent'] ? { keepParent: true } : {}),
        memory: num(o.memory) ?? 256,
        ...(o.vcpus ? { vcpus: num(o.vcpus) } : {}),
        ...(o.network ? { network: o.network } : {}),
        ...(o['boot-timeout'] !== undefined ? { bootTimeout: num(o['boot-timeout']) } : {}),
        ...(o.port ? { ports: o.port.map(num) } : {}),
        ...(o.host ? { host: o.host } : {}),
      }));
      if (a.detached) return 0;
      const r = a.r;
      out(r, () => {
        const t = r.timings;
        return `template ${r.name} (${r.id}) is ${r.state}${r.quiesced ? ', quiesced' : ''}: boot ${t.bootMs} ms, warm-up ${t.warmupMs} ms, freeze ${t.freezeMs} ms`;
      });
      return 0;
    }
    case 'fork': {
      const parent = need('parent');
      if (o.count === undefined) throw new CliError('fork needs --count N (how many children to fork).');
      const a = await longApi<ForkResult & Partial<LiveForkResult>>(!!o.detach, 'POST', `/templates/${enc(parent)}/fork`, checked(clusterForkSchema, {
        count: num(o.count),
        persistent: !!o.persistent,
        ...(o.quiesce ? { quiesce: true } : {}),
        ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
        ...(o['ssh-keys'] ? { sshKeys: true } : o['keep-ssh-keys'] ? { sshKeys: false } : {}),
        ...(o.port ? { ports: o.port.map(num) } : {}),
        ...(o.host ? { host: o.host } : {}),
        ...(o['request-id'] ? { requestId: o['request-id'] } : {}),
      }));
      if (a.detached) return 0;
      const r = a.r;
      out(r, () =>
        [
          table(
            r.children.map((c) => ({ ...c, ...c.identity })),
            ['name', 'state', 'persistent', 'hostname', 'ip', 'mac'],
          ),
          `${r.children.length} children in ${r.timings.totalMs} ms`,
          ...(r.pause && r.source && r.template ? [`live fork of ${r.source.name} through template ${r.template.name}: paused ${r.pause.pauseMs} ms (${r.pause.method})`] : []),
        ].join('\n'),
      );
      return 0;
    }
    case 'images': {
      if (args[0] === 'import') {
        const name = args[1];
        if (!name) throw new CliError('images import needs a NAME: instaclone images import NAME --disk FILE.');
        if (!o.disk) throw new CliError('images import needs --disk FILE (a disk image on this host).');
        // the console runs on this host: send an absolute path, resolved here
        const a = await longApi<ImportedImage>(!!o.detach, 'POST', '/images', checked(importImageSchema, { name, disk: path.resolve(o.disk), ...(o.format ? { format: o.format } : {}), ...(o.firmware ? { firmware: o.firmware } : {}) }));
        if (a.detached) return 0;
        const r = a.r;
        out(r, () => `imported ${r.name}: ${r.format}, ${mib(r.virtualSizeBytes)} virtual, ${mib(r.sizeBytes)} on disk, ${r.firmware} firmware`);
        return 0;
      }
      if (args[0] === 'rm') {
        if (!args[1]) throw new CliError('images rm needs a NAME: instaclone images rm NAME.');
        const r = await api('DELETE', `/images/${enc(args[1])}`);
        out(r, () => `removed image ${args[1]}`);
        return 0;
      }
      if (args[0]) throw new CliError(`Unknown images command "${args[0]}": use images, images import or images rm.`);
      const r = await api<{ images: ImageView[] }>('GET', '/images');
      out(r, () =>
        table(
          r.images.map((i) => ({ ...i, size: i.sizeBytes == null ? (i.built ? '-' : 'not built') : mib(i.sizeBytes), when: 'importedAt' in i ? i.importedAt : i.builtAt })),
          ['name', 'source', 'firmware', 'size', 'when'],
        ),
      );
      return 0;
    }
    case 'ls': {
      const r = await api<Ls>('GET', '/ls');
      out(r, () =>
        ['TEMPLATES', table(r.templates, ['name', 'id', 'state', 'quiesced', 'parentId']), '', 'VMS',
          table(r.vms, ['name', 'id', 'kind', 'state', 'persistent', 'templateId', 'pid', 'host'])].join('\n'),
      );
      return 0;
    }
    case 'hosts': {
      if (args[0] === 'drain' || args[0] === 'ready') {
        if (!args[1]) throw new CliError(`hosts ${args[0]} needs a NAME: instaclone hosts ${args[0]} NAME.`);
        const r = await api('POST', `/hosts/${enc(args[1])}/${args[0]}`);
        out(r, () => `host ${r.name} is ${r.state}`);
        return 0;
      }
      if (args[0]) throw new CliError(`Unknown hosts command "${args[0]}": use hosts, hosts drain NAME or hosts ready NAME.`);
      const r = await api('GET', '/hosts');
      out(r, () =>
        table(
          r.hosts.map((h: any) => ({ ...h, memory: `${h.memoryUsedBytes === null || h.memoryUsedBytes === undefined ? '-' : mib(h.memoryUsedBytes)} / ${mib(h.memoryBytes)}`, templates: h.templates.join(',') || '-', lastSeen: h.lastSeen, why: h.lostReason ?? '' })),
          ['name', 'state', 'cores', 'memory', 'qemuVersion', 'templates', 'vms', 'lastSeen', 'why'],
        ),
      );
      return 0;
    }
    case 'stats': {
      const r = await api('GET', '/stats');
      const kib = (k?: number) => mib((k ?? 0) * 1024);
      out(r, () => {
        const rows = (r.vms ?? []).map((v: any) => ({
          name: v.name,
          pid: v.pid,
          state: v.state,
          pss: kib(v.memory?.pssKiB),
          private: kib(v.memory?.privateKiB),
          shared: kib(v.memory?.sharedKiB),
        }));
        const t = r.totals ?? {};
        const h = r.host ?? {};
        return [
          table(rows, ['name', 'pid', 'state', 'pss', 'private', 'shared']),
          `total: ${t.vms ?? 0} VMs + ${t.slots ?? 0} waiting slots, PSS ${kib(t.pssKiB)}, private ${kib(t.privateKiB)}, shared ${kib(t.sharedKiB)}`,
          `host: ${kib(h.availableKiB)} available of ${kib(h.totalKiB)}`,
        ].join('\n');
      });
      return 0;
    }
    case 'exec': {
      const vm = need('vm');
      if (after.length === 0) throw new CliError('exec needs a command after "--": instaclone exec VM -- CMD...');
      const r = await api('POST', `/vms/${enc(vm)}/exec`, checked(execSchema, {
        command: after,
        ...(o.timeout ? { timeoutMs: num(o.timeout) } : {}),
      }));
      if (o.json) console.log(json(r));
      else {
        // the guest's bytes: as they are into a pipe or file; to a terminal without escapes beyond colours
        process.stdout.write(process.stdout.isTTY ? forTerminal(r.stdout ?? '') : (r.stdout ?? ''));
        process.stderr.write(process.stderr.isTTY ? forTerminal(r.stderr ?? '') : (r.stderr ?? ''));
      }
      return typeof r.exitCode === 'number' ? r.exitCode : 0;
    }
    case 'reset':
      if (args.length > 1) {
        const a = await longApi<Awaited<ReturnType<Engine['resetMany']>>>(!!o.detach, 'POST', '/vms/reset', checked(resetManySchema, { refs: args }));
        if (a.detached) return 0;
        out(a.r, () => a.r.results.map((x) => (x.ok ? `${x.ref}: ${x.vm.state}` : `${x.ref}: ${x.error}`)).join('\n'));
        return a.r.results.every((x) => x.ok) ? 0 : 1;
      }
    // falls through: one VM is reset by its own route, as before
    case 'stop':
    case 'start': {
      const vm = need('vm');
      const r = await api('POST', `/vms/${enc(vm)}/${cmd}`);
      out(r, () => `${r.name ?? vm}: ${r.state ?? 'ok'}`);
      return 0;
    }
    case 'rm': {
      const ref = need('vm');
      const q = o.force ? '?force=1' : '';
      let r;
      try {
        r = await api('DELETE', `/vms/${enc(ref)}${q}`);
      } catch (e) {
        if ((e as { status?: number }).status !== 404) throw e;
        r = await api('DELETE', `/templates/${enc(ref)}${q}`);
      }
      out(r, () => `removed ${ref}`);
      return 0;
    }
    case 'operation':
    case 'task': {
      const id = need('id');
      const r = await api('GET', `/tasks/${enc(id)}`);
      out(r, () =>
        [`${r.kind} ${r.targetName ?? r.targetId ?? ''}: ${r.state}${r.state === 'running' ? ` (${Math.round((r.progress ?? 0) * 100)} %)` : ''}`, ...(r.error ? [r.error] : []), ...(r.result ? [JSON.stringify(r.result)] : [])].join('\n'),
      );
      return r.state === 'failed' ? 1 : 0;
    }
    case 'pool':
      return poolCommand(args, o, { api, long: (m, route, body) => longApi(!!o.detach, m, route, body), out, table, num, checked, fail: (m) => { throw new CliError(m); } });
    case 'quota':
      return quotaCommand(args, o, { api, long: (m, route, body) => longApi(!!o.detach, m, route, body), out, table, num, checked, fail: (m) => { throw new CliError(m); } });
    default:
      throw new CliError(`Unknown command "${cmd}": run instaclone --help for the list.`);
  }
}

function run(argv: string[]) {
  main(argv).then(
    (code) => process.exit(code),
    (e: Error) => {
      const msg = e instanceof CliError ? e.message : (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? `${e.message} (see instaclone --help)` : e.message;
      process.stderr.write(`instaclone: ${plain(msg.split('\n')[0])}\n`); // may quote a guest
      process.exit(1);
    },
  );
}

// scripts/build-cli.sh also makes a V8 start-up snapshot of this bundle (node --build-snapshot): the
// modules are then loaded and the config schemas built before the process starts. Run from the
// snapshot (node --snapshot-blob), the arguments start at argv[1].
if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(() => run(process.argv.slice(1)));
else run(process.argv.slice(2));
