// The validated environment (DESIGN.md "Contracts"): every variable Instaclone reads is read and
// checked here, once per change of the environment, and a bad value is one sentence naming the
// variable, what it must be and what it was. An empty value counts as unset (except
// INSTACLONE_QEMU_USER and INSTACLONE_QEMU_DATADIR, where empty means something).
import os from 'node:os';
import path from 'node:path';
// zod/mini: the same checks as zod in a few KiB (config is read by every process, the CLI included)
import * as z from 'zod/mini';

const whole = (lo: number, hi: number) => z.pipe(z.string().check(z.regex(/^\d+$/)), z.pipe(z.transform(Number), z.int().check(z.minimum(lo), z.maximum(hi))));
const filePath = z.string().check(z.refine((s) => !s.includes('\0')));
const matching = (re: RegExp) => z.string().check(z.regex(re));
const name = matching(/^[A-Za-z0-9_.:+-]{1,64}$/);
const FLAGS = ['0', '1', 'true', 'false', 'yes', 'no'] as const;
const flag = z.pipe(z.enum(FLAGS), z.transform((v: (typeof FLAGS)[number]) => v === '1' || v === 'true' || v === 'yes'));

/** Every variable: its schema and the words for "must be …" in the error sentence. */
const VARS = {
  INSTACLONE_HOME: [filePath, 'a folder path'],
  INSTACLONE_RUN: [filePath, 'a folder path (on tmpfs)'],
  PORT: [whole(1, 65535), 'a TCP port number (1-65535)'],
  DATABASE_URL: [matching(/^(file:|postgres(ql)?:\/\/)/), 'a "file:PATH" (SQLite) or "postgresql://…" URL'],
  // the CLI
  INSTACLONE_URL: [z.url({ protocol: /^https?$/ }), 'the console\'s http(s) URL, like http://localhost:3000'],
  INSTACLONE_TOKEN: [matching(/^\S{1,512}$/), 'an API token (no spaces)'],
  // QEMU
  INSTACLONE_QEMU: [z.string(), 'the path of qemu-system-x86_64'],
  INSTACLONE_QEMU_IMG: [z.string(), 'the path of qemu-img'],
  INSTACLONE_QEMU_DATADIR: [filePath, 'QEMU firmware folders separated by ":"'],
  INSTACLONE_QEMU_USER: [matching(/^([a-z_][a-z0-9_-]{0,31})?$/), 'a user name, or empty to run QEMU as the engine\'s own user'],
  INSTACLONE_QEMU_UID_BASE: [whole(1000, 2 ** 31 - 70_000), 'a uid number of at least 1000'],
  INSTACLONE_QEMU_UID_COUNT: [whole(1, 65_536), 'a whole number from 1 to 65536'],
  INSTACLONE_ACCEL: [z.enum(['kvm', 'tcg', 'auto']), '"kvm", "tcg" or "auto"'],
  INSTACLONE_TB_SIZE: [whole(1, 1024), 'a whole number of MiB from 1 to 1024'],
  INSTACLONE_DEVICES: [z.enum(['auto', 'standard', 'lean']), '"auto" (the image decides), "standard" or "lean" (the device profile of new templates)'],
  INSTACLONE_OVMF_CODE: [filePath, 'the path of an OVMF code file'],
  INSTACLONE_OVMF_VARS: [filePath, 'the path of an OVMF vars file'],
  // the engine
  INSTACLONE_BOOT_TIMEOUT_S: [whole(1, 86_400), 'a whole number of seconds from 1 to 86400'],
  INSTACLONE_SERIAL_LOG_MAX: [whole(4096, 2 ** 40), 'a number of bytes of at least 4096'],
  INSTACLONE_FORK_CONCURRENCY: [whole(1, 64), 'a whole number from 1 to 64'],
  INSTACLONE_POOL_REFILL_CONCURRENCY: [whole(1, 64), 'a whole number from 1 to 64'],
  INSTACLONE_RESET_SPARE: [flag, '1 or 0 (a spare VMM per template for resets)'],
  INSTACLONE_SLOT_TOPUP: [flag, '1 or 0 (new prelaunched slots after each fork)'],
  INSTACLONE_QEMU_MALLOC_ARENAS: [whole(0, 64), 'a whole number from 0 (glibc\'s default) to 64'],
  INSTACLONE_QEMU_THP: [z.enum(['auto', 'on', 'off']), '"auto", "on" or "off" (transparent huge pages for QEMU\'s own memory)'],
  INSTACLONE_KSM: [z.enum(['off', 'on', 'auto']), '"off", "on" or "auto" (Kernel Same-page Merging of the VMs\' memory)'],
  // guest networking
  INSTACLONE_NET: [z.enum(['user', 'bridge']), '"user" or "bridge"'],
  INSTACLONE_BRIDGE: [matching(/^[A-Za-z0-9_.-]{1,15}$/), 'the name of a Linux bridge (up to 15 letters, digits, "_", "." or "-")'],
  INSTACLONE_NET_POOL: [matching(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/), 'an IPv4 CIDR like 10.1.0.0/16'],
  INSTACLONE_PORT_RANGE: [
    z.pipe(
      matching(/^\d{4,5}-\d{4,5}$/),
      z.pipe(
        z.transform((s: string) => s.split('-').map(Number) as [number, number]),
        z.custom<[number, number]>((r) => Array.isArray(r) && r[0] >= 1024 && r[1] <= 65535 && r[0] <= r[1]),
      ),
    ),
    'a range like 20000-29999 (1024-65535)',
  ],
  INSTACLONE_NETNS: [name, 'a network namespace name'],
  // many hosts (lib/cluster): this host's name; INSTACLONE_AGENT=1 is set by `npm run agent` only
  INSTACLONE_HOST_NAME: [matching(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/), '1-40 lower-case letters, digits or dashes (not at either end)'],
  INSTACLONE_AGENT: [flag, '1 or 0'],
  INSTACLONE_AGENT_SECRET: [matching(/^\S{32,512}$/), 'a random string of 32-512 characters without spaces (e.g. `openssl rand -hex 32`)'],
  INSTACLONE_AGENT_URL: [z.url({ protocol: /^https?$/ }), 'the http(s) URL consoles reach this agent at'],
  INSTACLONE_HEARTBEAT_S: [whole(1, 60), 'a whole number of seconds from 1 to 60'],
  INSTACLONE_HOST_LOST_S: [whole(2, 600), 'a whole number of seconds from 2 to 600'],
  INSTACLONE_REPLICA_WAIT_S: [whole(1, 86_400), 'a whole number of seconds from 1 to 86400'],
  INSTACLONE_TEMPLATE_STORE_MIB: [whole(1, 2 ** 30), 'a whole number of MiB (the template RAM an agent keeps in INSTACLONE_RUN)'],
  INSTACLONE_FORK_REQUEST_KEEP_S: [whole(60, 90 * 86_400), 'a whole number of seconds from 60 to 7776000 (90 days)'],
  INSTACLONE_HOST_PSS_S: [whole(1, 3600), 'a whole number of seconds from 1 to 3600'],
  // the web console
  INSTACLONE_TRUST_PROXY: [flag, '1 or 0'],
  INSTACLONE_STREAM_RECHECK_MS: [whole(10, 3_600_000), 'a whole number of milliseconds from 10 to 3600000'],
  INSTACLONE_MAX_STREAMS_PER_USER: [whole(1, 10_000), 'a whole number from 1 to 10000'],
  // guest images
  INSTACLONE_GUEST_DIR: [filePath, 'the folder holding build-image.sh'],
  INSTACLONE_KERNEL_PACKAGE: [matching(/^[a-z0-9][a-z0-9.+-]+$/), 'a Debian package name'],
  INSTACLONE_IMAGE_CACHE: [filePath, 'a folder path'],
  INSTACLONE_DEBIAN_MIRROR: [z.url({ protocol: /^(https?|file)$/ }), 'a Debian mirror URL (ending in /debian)'],
} as const satisfies Record<string, readonly [z.ZodMiniType<unknown, string>, string]>;

type VarName = keyof typeof VARS;
/** process.env, or any set of variables (tests, preflight of another environment) */
type Env = Record<string, string | undefined>;
type Parsed = { [K in VarName]?: z.output<(typeof VARS)[K][0]> };

export interface Config {
  home: string; // state, disks, database
  run: string; // RAM files and sockets (tmpfs)
  port: number;
  databaseUrl: string;
  databaseKind: 'sqlite' | 'postgresql';
  /** this host's name among many (INSTACLONE_HOST_NAME; default: the machine's host name) */
  hostName: string;
  /** PostgreSQL schema of this process's engine state: an agent's own (host_NAME), else the default */
  dbSchema: string | undefined;
  /** many hosts: the agents' shared secret, this agent's URL, heartbeat and lost timings, replica wait */
  cluster: {
    agentSecret?: string;
    agentUrl?: string;
    heartbeatS: number;
    lostAfterS: number;
    replicaWaitS: number;
    /** cap on template RAM files in INSTACLONE_RUN (replicas are evicted to stay under it); undefined = the tmpfs's free space */
    templateStoreBytes?: number;
    /** how long a finished fork request id still answers its first outcome */
    forkRequestKeepS: number;
    /** how often a host re-reads its QEMUs' PSS for the hosts view (one smaps_rollup per QEMU) */
    pssEveryS: number;
  };
  cli: { url: string; token?: string };
  qemu: {
    binary: string;
    img: string;
    /** firmware folders (-L) instead of the ones found beside the binary; [] = none */
    datadirs?: string[];
    /** the user QEMU drops to when the engine is root; '' = none */
    user: string;
    uidBase: number;
    uidCount: number;
    /**
     * which block of uidCount uids from uidBase this engine takes: an agent's PORT (agents sharing a
     * machine have distinct ports, so their blocks are disjoint and no two VMs share a uid), else 0
     */
    uidBlock: number;
    /** forced accelerator; undefined = detect */
    accel?: 'kvm' | 'tcg';
    tbSizeMiB: number;
    /** device profile of new templates (argv.ts deviceProfile); undefined = the image decides */
    devices?: 'standard' | 'lean';
    /**
     * transparent huge pages for QEMU (INSTACLONE_QEMU_THP): QEMU madvises its TCG code buffer
     * MADV_HUGEPAGE, so a child holds mostly empty 2 MiB pages; off = prctl(PR_SET_THP_DISABLE);
     * auto (default) = off under TCG, on under KVM (guest RAM keeps its huge pages there)
     */
    thp: 'auto' | 'on' | 'off';
    ovmf?: { code: string; vars: string };
  };
  bootTimeoutS: number;
  serialLogMaxBytes: number;
  forkConcurrency: number;
  poolRefillConcurrency: number;
  /** a paused spare QEMU per template, swapped in at reset */
  resetSpare: boolean;
  /** prelaunched slots registered again in the background after a fork used them */
  slotTopUp: boolean;
  /** MALLOC_ARENA_MAX for QEMU; 0 = glibc's default */
  qemuMallocArenas: number;
  /**
   * Kernel Same-page Merging (lib/engine/ksm.ts): 'on' starts the host's ksmd at engine start and
   * makes every QEMU wholly mergeable; 'auto' (default) leaves ksmd to the host and joins it when it
   * runs; 'off' opts every VM out (its RAM is never merged, even when the host runs ksmd)
   */
  ksm: 'off' | 'on' | 'auto';
  net: { mode: 'user' | 'bridge'; bridge?: string; pool?: string; portRange: [number, number]; netns?: string };
  web: { trustProxy: boolean; streamRecheckMs: number; maxStreamsPerUser: number };
  guest: { dir?: string; kernelPackage?: string; imageCache?: string; debianMirror?: string };
}

/** Host names: lower-case letters, digits and dashes (no underscore, so host_NAME schemas never clash). */
export const HOST_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** The PostgreSQL schema an agent keeps its engine state in. */
export const hostSchema = (name: string) => `host_${name.replace(/-/g, '_')}`;

/** Variables where empty means something: QEMU as the engine's own user; no firmware folders. */
const KEEP_EMPTY = new Set<VarName>(['INSTACLONE_QEMU_USER', 'INSTACLONE_QEMU_DATADIR']);

/** The variables' raw values, with "" as unset (except KEEP_EMPTY). */
function raw(env: Env): Partial<Record<VarName, string>> {
  const out: Partial<Record<VarName, string>> = {};
  for (const k of Object.keys(VARS) as VarName[]) {
    const v = env[k];
    if (v !== undefined && (v !== '' || KEEP_EMPTY.has(k))) out[k] = v;
  }
  return out;
}

/** Checks every set variable; the first bad one throws its sentence. */
export function parseEnv(env: Env = process.env): Parsed {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw(env)) as [VarName, string][]) {
    const [schema, words] = VARS[k];
    const r = (schema as z.ZodMiniType).safeParse(v);
    if (!r.success) throw new ConfigError(`${k} must be ${words}, not "${v.length > 80 ? `${v.slice(0, 80)}…` : v}".`);
    out[k] = r.data;
  }
  return out as Parsed;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function build(e: Parsed): Config {
  const home = path.resolve(e.INSTACLONE_HOME ?? path.join(os.homedir(), '.local/share/instaclone'));
  const run = path.resolve(e.INSTACLONE_RUN ?? '/dev/shm/instaclone');
  const port = e.PORT ?? 3000;
  const databaseUrl = e.DATABASE_URL ?? `file:${path.join(home, 'instaclone.db')}`;
  const mode = e.INSTACLONE_NET ?? 'user';
  if (mode === 'bridge' && !e.INSTACLONE_BRIDGE) throw new ConfigError('INSTACLONE_NET=bridge needs INSTACLONE_BRIDGE set to the name of an existing Linux bridge (up to 15 characters).');
  if (!!e.INSTACLONE_OVMF_CODE !== !!e.INSTACLONE_OVMF_VARS) throw new ConfigError('INSTACLONE_OVMF_CODE and INSTACLONE_OVMF_VARS go together: set both, or neither.');
  const accel = e.INSTACLONE_ACCEL === 'auto' ? undefined : e.INSTACLONE_ACCEL;
  if (e.INSTACLONE_AGENT && (e.INSTACLONE_QEMU_UID_BASE ?? 810_000) + (port + 1) * (e.INSTACLONE_QEMU_UID_COUNT ?? 4096) > 2 ** 31) {
    throw new ConfigError(`An agent's QEMU uids are INSTACLONE_QEMU_UID_BASE + PORT × INSTACLONE_QEMU_UID_COUNT onwards, and with PORT=${port} that passes uid 2^31: lower INSTACLONE_QEMU_UID_COUNT or the base.`);
  }
  const databaseKind = /^postgres(ql)?:\/\//.test(databaseUrl) ? 'postgresql' : 'sqlite';
  const hostName = e.INSTACLONE_HOST_NAME ?? (os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '') || 'localhost');
  return {
    home,
    run,
    port,
    databaseUrl,
    databaseKind,
    hostName,
    // an agent keeps its engine state in its own schema; a console keeps the default one
    dbSchema: e.INSTACLONE_AGENT && databaseKind === 'postgresql' ? hostSchema(hostName) : undefined,
    cluster: {
      agentSecret: e.INSTACLONE_AGENT_SECRET,
      agentUrl: e.INSTACLONE_AGENT_URL,
      heartbeatS: e.INSTACLONE_HEARTBEAT_S ?? 5,
      lostAfterS: e.INSTACLONE_HOST_LOST_S ?? 30,
      replicaWaitS: e.INSTACLONE_REPLICA_WAIT_S ?? 600,
      templateStoreBytes: e.INSTACLONE_TEMPLATE_STORE_MIB === undefined ? undefined : e.INSTACLONE_TEMPLATE_STORE_MIB * 1024 * 1024,
      forkRequestKeepS: e.INSTACLONE_FORK_REQUEST_KEEP_S ?? 86_400,
      pssEveryS: e.INSTACLONE_HOST_PSS_S ?? 30,
    },
    cli: { url: (e.INSTACLONE_URL ?? `http://localhost:${port}`).replace(/\/+$/, ''), token: e.INSTACLONE_TOKEN },
    qemu: {
      binary: e.INSTACLONE_QEMU ?? 'qemu-system-x86_64',
      img: e.INSTACLONE_QEMU_IMG ?? 'qemu-img',
      datadirs: e.INSTACLONE_QEMU_DATADIR === undefined ? undefined : e.INSTACLONE_QEMU_DATADIR.split(':').filter(Boolean),
      user: e.INSTACLONE_QEMU_USER ?? 'instaclone-qemu',
      uidBase: e.INSTACLONE_QEMU_UID_BASE ?? 810_000,
      uidCount: e.INSTACLONE_QEMU_UID_COUNT ?? 4096,
      uidBlock: e.INSTACLONE_AGENT && databaseKind === 'postgresql' ? port : 0,
      accel,
      tbSizeMiB: e.INSTACLONE_TB_SIZE ?? 32,
      devices: e.INSTACLONE_DEVICES === 'auto' ? undefined : e.INSTACLONE_DEVICES,
      thp: e.INSTACLONE_QEMU_THP ?? 'auto',
      ovmf: e.INSTACLONE_OVMF_CODE && e.INSTACLONE_OVMF_VARS ? { code: e.INSTACLONE_OVMF_CODE, vars: e.INSTACLONE_OVMF_VARS } : undefined,
    },
    bootTimeoutS: e.INSTACLONE_BOOT_TIMEOUT_S ?? 300,
    serialLogMaxBytes: e.INSTACLONE_SERIAL_LOG_MAX ?? 8 * 1024 * 1024,
    forkConcurrency: e.INSTACLONE_FORK_CONCURRENCY ?? 4,
    poolRefillConcurrency: e.INSTACLONE_POOL_REFILL_CONCURRENCY ?? 2,
    resetSpare: e.INSTACLONE_RESET_SPARE ?? true,
    slotTopUp: e.INSTACLONE_SLOT_TOPUP ?? true,
    qemuMallocArenas: e.INSTACLONE_QEMU_MALLOC_ARENAS ?? 0,
    ksm: e.INSTACLONE_KSM ?? 'auto',
    net: { mode, bridge: e.INSTACLONE_BRIDGE, pool: e.INSTACLONE_NET_POOL, portRange: e.INSTACLONE_PORT_RANGE ?? [20000, 29999], netns: e.INSTACLONE_NETNS },
    web: { trustProxy: e.INSTACLONE_TRUST_PROXY ?? false, streamRecheckMs: e.INSTACLONE_STREAM_RECHECK_MS ?? 10_000, maxStreamsPerUser: e.INSTACLONE_MAX_STREAMS_PER_USER ?? 32 },
    guest: { dir: e.INSTACLONE_GUEST_DIR, kernelPackage: e.INSTACLONE_KERNEL_PACKAGE, imageCache: e.INSTACLONE_IMAGE_CACHE, debianMirror: e.INSTACLONE_DEBIAN_MIRROR },
  };
}

// Tests and the bench change variables at run time, so the environment is read on every call; it
// is parsed again only when one of its values changed.
let memo: { key: string; value: Config } | null = null;

export function config(env: Env = process.env): Config {
  const r = raw(env);
  const key = JSON.stringify(r);
  if (env === process.env && memo?.key === key) return memo.value;
  const value = build(parseEnv(env));
  if (env === process.env) memo = { key, value };
  return value;
}
