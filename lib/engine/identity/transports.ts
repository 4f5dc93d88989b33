// The three ways an identity reaches a guest, fastest first: the resident helper's channel (one line
// each way), the helper run once through guest-exec, and (images without the helper) guest-set-time
// plus one busybox script. Each returns the guest's `key=value` read-back and the host time window
// around it; verify.ts judges it.
import { randomBytes } from 'node:crypto';
import type { AgentClient } from '../agent';
import { buildIdentityRequest, newNonce, type IdentityChannel } from '../identity-channel';
import type { IdentityPlan } from './plan';

/** The in-guest identity helper (tiny image); see lib/guest/tiny/instaclone-identity.c. */
export const IDENTITY_HELPER = '/usr/sbin/instaclone-identity';

/** Agents whose guest has no identity helper (use the script); remembered per connection. */
const noHelper = new WeakSet<object>();

export const hostNowNs = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

/** What one transport brought back. */
export interface ReadBack {
  method: 'channel' | 'helper' | 'script';
  kv: Map<string, string>;
  exitCode: number;
  stderr: string;
  /** host time (ns) just before the values were sent and just after the answer came */
  before: bigint;
  after: bigint;
  /** requests sent to the guest (exec + status polls) */
  calls: number;
  /** script only: guest-set-time's wall time and error */
  setTimeMs: number;
  clockError: string | null;
}

export interface Values {
  plan: IdentityPlan;
  mask: string;
  gateway: string;
  timeoutMs: number;
}

/** Whether this agent's guest is known to lack the helper (the next viaHelper will not try). */
export const knownWithoutHelper = (agent: AgentClient) => noHelper.has(agent);

/** `key=value` lines → map. */
function parseLines(stdout: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return kv;
}

/** 0. The resident helper on the identity port: one line out, one line back. Throws on no answer. */
export async function viaChannel(channel: IdentityChannel, v: Values, timeoutMs: number): Promise<ReadBack> {
  const { plan } = v;
  const nonce = newNonce();
  const before = hostNowNs();
  const line = buildIdentityRequest({ nonce, hostname: plan.hostname, machineId: plan.machineId, mac: plan.mac, ip: plan.ip, mask: v.mask, gateway: v.gateway, timeNs: before, entropy: randomBytes(64) });
  const kv = await channel.request(line, nonce, timeoutMs);
  return { method: 'channel', kv, exitCode: 0, stderr: (kv.get('err') ?? '').split(';').join('\n'), before, after: hostNowNs(), calls: 1, setTimeMs: 0, clockError: null };
}

/**
 * 1. The helper through guest-exec: one process does it all (the clock too: the host's time in ns as
 * argv). Null when the guest has no helper (remembered for this agent); throws `fail(…)` otherwise.
 */
export async function viaHelper(agent: AgentClient, v: Values, fail: (what: string) => Error): Promise<ReadBack | null> {
  if (noHelper.has(agent)) return null;
  const { plan } = v;
  const before = hostNowNs();
  try {
    const res = await agent.exec([IDENTITY_HELPER, plan.hostname, plan.machineId, plan.mac, plan.ip, v.mask, v.gateway, String(before)], {
      input: randomBytes(64),
      timeoutMs: v.timeoutMs,
      firstPollMs: 10,
      maxPollMs: 10,
    });
    const after = hostNowNs();
    return { method: 'helper', kv: parseLines(res.stdout), exitCode: res.exitCode, stderr: res.stderr, before, after, calls: 1 + (res.polls ?? 1), setTimeMs: 0, clockError: null };
  } catch (e) {
    // qemu-ga: "Failed to execute child process “…” (No such file or directory)"
    if (!/No such file|not found|ENOENT/i.test((e as Error).message)) {
      throw fail(`the guest agent could not run ${IDENTITY_HELPER} (${(e as Error).message})`);
    }
    noHelper.add(agent);
    return null;
  }
}

/**
 * 2. Images without the helper: guest-set-time (qemu-ga also runs hwclock -w; if only that part
 * fails the system time is set all the same, which the read-back checks), then the script.
 */
export async function viaScript(agent: AgentClient, v: Values, fail: (what: string) => Error): Promise<ReadBack> {
  const { plan } = v;
  const tS = performance.now();
  let clockError: string | null = null;
  try {
    await agent.call('guest-set-time', { time: Number(hostNowNs()) }, v.timeoutMs);
  } catch (e) {
    clockError = (e as Error).message;
  }
  const setTimeMs = performance.now() - tS;
  const before = hostNowNs();
  let res;
  try {
    res = await agent.exec(['/bin/sh', '-c', IDENTITY_SCRIPT, 'instaclone-identity', plan.hostname, plan.machineId, plan.mac, plan.ip, v.mask, v.gateway], {
      input: randomBytes(64),
      timeoutMs: v.timeoutMs,
      firstPollMs: 10,
      maxPollMs: 10,
    });
  } catch (e) {
    throw fail(`the guest agent could not run the identity script (${(e as Error).message})`);
  }
  const after = hostNowNs();
  return { method: 'script', kv: parseLines(res.stdout), exitCode: res.exitCode, stderr: res.stderr, before, after, calls: 2 + (res.polls ?? 1), setTimeMs, clockError };
}

// The identity script. Values come in as $1..$5 (argv, never interpolated); entropy on stdin.
// Output: one `key=value` per line. Only busybox applets and shell builtins; few forks (TCG).
export const IDENTITY_SCRIPT = `
h=$1 mid=$2 mac=$3 ip=$4 mask=$5 gw=$6
err() { echo "$*" >&2; }
# entropy first: instaclone-reseed reads stdin (our 64 host bytes) to EOF
if /usr/sbin/instaclone-reseed; then echo reseed=ok; else echo reseed=failed; fi
echo "$h" > /proc/sys/kernel/hostname || err "setting the hostname failed"
echo "$h" > /etc/hostname
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n' "$h" > /etc/hosts
echo "$mid" > /etc/machine-id
if [ -e /sys/class/net/eth0 ]; then
  # one command: MAC (virtio-net changes it live), primary address (replaces the parent's), up
  ifconfig eth0 hw ether "$mac" "$ip" netmask "$mask" up || {
    ifconfig eth0 down; ifconfig eth0 hw ether "$mac" "$ip" netmask "$mask" up || err "setting MAC $mac and address $ip failed"; }
  ip route replace default via "$gw" dev eth0 || err "setting the default route via $gw failed"
  # gratuitous ARP so that neighbours (bridge peers, slirp) learn the new MAC/IP at once
  arping -U -c 1 -I eth0 "$ip" >/dev/null 2>&1 </dev/null &
  read -r m < /sys/class/net/eth0/address; echo "mac=$m"
  echo "ip=$(ip -4 -o addr show dev eth0)"
else
  err "the guest has no eth0"
fi
read -r x < /proc/sys/kernel/hostname; echo "hostname=$x"
read -r x < /etc/hostname; echo "etchostname=$x"
read -r x < /etc/machine-id; echo "machineid=$x"
g=/sys/firmware/qemu_fw_cfg/by_name/etc/vmgenid_guid/raw
if [ -r $g ]; then echo "vmgenid=$(xxd -p -s 40 -l 16 $g)"; else echo vmgenid=unreadable; fi
k=$(dmesg 2>/dev/null)
case "$k" in *"virtual machine fork"*) echo vmfork=yes;; *) echo vmfork=no;; esac
echo "urandom=$(xxd -p -l 16 /dev/urandom)"
t=$(adjtimex); s=\${t#*tv_sec:}; u=\${t#*tv_usec:}
echo "time="\${s%%[!0-9 ]*} \${u%%[!0-9 ]*}
`;
