// Identity through the STOCK qemu-guest-agent alone (imported images and the debian image): nothing
// of ours is on the guest's disk. Under TCG every process a fresh child starts costs hundreds of ms
// of CPU (its code is translated afresh), so: ONE guest-exec of /bin/sh whose script uses shell
// builtins except for `ip link` (the MAC), `date` (the clock), the guest's own lease renewal
// (started, never waited for) and, when asked, ssh-keygen; the rest goes through agent commands
// that start no process (guest-get-time, guest-file-* for the urandom read-back,
// guest-network-get-interfaces), issued while the script runs. The engine then polls only for the
// child's address. The clock is set as "now + the offset measured by guest-get-time", so the time
// the script takes to start does not matter; qemu-ga's guest-set-time (settimeofday, then
// `hwclock -w`, 10 s of a fresh child under TCG on a loaded host) is only the fallback when `date`
// fails. Host entropy reaches the script on its stdin (octal escapes for the printf builtin: never
// in argv, where other guest users could read it). Values are argv entries, never interpolated
// into the script.
import { randomBytes } from 'node:crypto';
import type { AgentClient } from './agent';
import { EngineError } from './errors';
import { guestList, guestText } from './guest-text';
import type { IdentityPlan, VerifiedIdentity } from './identity';

/** How a guest's primary interface gets its address (from the compatibility report at prepare). */
export type NetMethod = 'networkd' | 'networkmanager' | 'dhclient' | 'static';

export interface StockIdentityOptions {
  prefixLen: number;
  gateway: string;
  label: string;
  /** primary interface (from the compat report); empty = the one with the default route */
  iface?: string;
  net: NetMethod;
  /** regenerate the SSH host keys (default for persistent children) */
  sshKeys?: boolean;
  timeoutMs?: number;
}

// $1 hostname $2 machine-id $3 MAC $4 IP $5 prefix $6 gateway $7 interface $8 net method $9 ssh keys (1/0)
// ${10} clock offset "+S.NNN seconds" (host minus guest); stdin: host entropy as printf octal escapes
// Prints key=value lines; "steps" holds /proc/uptime marks (10 ms) of each step, for the fork details.
export const STOCK_IDENTITY_SCRIPT = `
h=$1 mid=$2 mac=$3 ip=$4 plen=$5 gw=$6 ifc=$7 net=$8 ssh=$9 off=\${10}
err() { echo "$*" >&2; }
read -r t0 x < /proc/uptime; steps=
mark() { read -r t x < /proc/uptime; steps="$steps$1:$t,"; }
# host entropy first (ssh-keygen below reads the pool): the printf builtin writes the bytes
read -r e && printf "$e" > /dev/urandom && echo entropy=ok
if [ -z "$ifc" ]; then
  any=; while read -r i d rest; do [ "$i" = Iface ] || [ "$i" = lo ] && continue; [ -n "$any" ] || any=$i; [ "$d" = 00000000 ] && { ifc=$i; break; }; done < /proc/net/route; [ -n "$ifc" ] || ifc=$any
fi
echo "$h" > /proc/sys/kernel/hostname || err "setting the hostname failed"
echo "$h" > /etc/hostname || err "writing /etc/hostname failed"
hosts= found=0
while IFS= read -r l || [ -n "$l" ]; do
  case "$l" in "127.0.1.1	"*|"127.0.1.1 "*) l="127.0.1.1	$h"; found=1;; esac
  hosts="$hosts$l
"
done < /etc/hosts
[ $found = 1 ] || hosts="\${hosts}127.0.1.1	$h
"
printf '%s' "$hosts" > /etc/hosts || err "writing /etc/hosts failed"
echo "$mid" > /etc/machine-id || err "writing /etc/machine-id failed"
[ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ] && echo "$mid" > /var/lib/dbus/machine-id
mark files
if [ -z "$ifc" ] || [ ! -e "/sys/class/net/$ifc" ]; then
  err "the guest has no primary network interface (no routed interface)"
else
  # dhclient holds the parent's lease: stop it before the MAC changes (it would renew the old one)
  if [ "$net" = dhclient ]; then
    for f in /run/dhclient.$ifc.pid /run/dhclient-$ifc.pid /var/run/dhclient.$ifc.pid; do
      [ -r "$f" ] && read -r p < "$f" && kill "$p" 2>/dev/null
    done
  fi
  ip link set dev "$ifc" address "$mac" || err "setting MAC $mac on $ifc failed"
  mark mac
fi
# GNU date sets "now + offset" (the offset was measured just before this script started)
date -s "$off" >/dev/null 2>&1 && echo clock=date
mark clock
if [ -n "$ifc" ] && [ -e "/sys/class/net/$ifc" ]; then
  # the lease is renewed in the background (output to /dev/null, or the agent would wait for it):
  # the engine polls for the child's address
  case $net in
    # networkd restarts its DHCP client by itself on a MAC change (systemd 252): a renew on top
    # would make slirp hand out a second address (seen: .3 instead of .2), so the host renews only
    # if no new lease shows up (older networkd)
    networkd) ;;
    # NetworkManager keeps the parent's lease on a MAC change: activate the device's profile again
    networkmanager) nmcli --wait 0 device connect "$ifc" >/dev/null 2>&1 || err "nmcli device connect $ifc failed" ;;
    dhclient)
      : > "/var/lib/dhcp/dhclient.$ifc.leases"
      ip -4 addr flush dev "$ifc"
      dhclient -4 -nw -pf "/run/dhclient.$ifc.pid" -lf "/var/lib/dhcp/dhclient.$ifc.leases" "$ifc" >/dev/null 2>&1 || err "dhclient $ifc did not start"
      ;;
    *) { ip -4 addr flush dev "$ifc" && ip addr add "$ip/$plen" dev "$ifc" && ip route replace default via "$gw" dev "$ifc"; } || err "setting address $ip/$plen on $ifc failed" ;;
  esac
  mark lease
fi
if [ "$ssh" = 1 ]; then
  rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && { systemctl --no-block try-reload-or-restart ssh.service sshd.service >/dev/null 2>&1; true; } || err "regenerating the SSH host keys failed"
  mark ssh
fi
echo "iface=$ifc"
read -r x < /proc/sys/kernel/hostname; echo "hostname=$x"
read -r x < /etc/hostname; echo "etchostname=$x"
read -r x < /etc/machine-id; echo "machineid=$x"
if [ -r /etc/ssh/ssh_host_ed25519_key.pub ]; then read -r a b c < /etc/ssh/ssh_host_ed25519_key.pub; echo "sshkey=$b"; fi
[ -e /sys/bus/acpi/drivers/vmgenid ] && echo vmgenid=driver
echo "t0=$t0"
echo "steps=$steps"
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function writeGuestFile(agent: AgentClient, file: string, data: Buffer, timeoutMs: number): Promise<void> {
  const h = await agent.call<number>('guest-file-open', { path: file, mode: 'w' }, timeoutMs);
  try {
    await agent.call('guest-file-write', { handle: h, 'buf-b64': data.toString('base64') }, timeoutMs);
  } finally {
    await agent.call('guest-file-close', { handle: h }, timeoutMs).catch(() => undefined);
  }
}

async function readGuestFile(agent: AgentClient, file: string, count: number, timeoutMs: number): Promise<Buffer> {
  const h = await agent.call<number>('guest-file-open', { path: file, mode: 'r' }, timeoutMs);
  try {
    const r = await agent.call<{ 'buf-b64': string }>('guest-file-read', { handle: h, count }, timeoutMs);
    return Buffer.from(r['buf-b64'], 'base64');
  } finally {
    await agent.call('guest-file-close', { handle: h }, timeoutMs).catch(() => undefined);
  }
}

interface GuestIf {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: { 'ip-address-type': string; 'ip-address': string; prefix: number }[];
}

const v4 = (i: GuestIf | undefined) => (i?.['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'ipv4').map((a) => `${a['ip-address']}/${a.prefix}`);

/**
 * Applies `plan` through the stock agent and proves it from inside the guest (see the header).
 * Throws EngineError('qemu', 'child X: identity check failed: …') on any mismatch.
 */
export async function applyStockIdentity(agent: AgentClient, plan: IdentityPlan, o: StockIdentityOptions): Promise<VerifiedIdentity> {
  const t0 = performance.now();
  const timeoutMs = o.timeoutMs ?? 120_000;
  const fail = (what: string) => new EngineError('qemu', `child ${o.label}: identity check failed: ${guestText(what, 2000)}`, { plan }); // it quotes the guest
  const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10;
  let calls = 0;
  const problems: string[] = [];
  // 1. how far the guest clock is off (one call, no process): the script sets "now + offset"
  const tS = performance.now();
  calls++;
  const sent = Date.now();
  const guestBefore = (await agent.call<number>('guest-get-time', undefined, timeoutMs).catch(() => NaN)) / 1e6;
  const offsetMs = Date.now() / 2 + sent / 2 - guestBefore; // host time at the reply's midpoint
  const offMs = performance.now() - tS;
  const offset = Number.isFinite(offsetMs) ? `${offsetMs < 0 ? '-' : '+'}${(Math.abs(offsetMs) / 1000).toFixed(3)} seconds` : '+0 seconds';
  // 2. the one process: entropy, files, MAC, clock, lease renewal started (guest-exec returns at once)
  const tX = performance.now();
  // host entropy as octal escapes for the script's printf builtin (no NUL: a shell string ends there)
  const entropyEsc = [...randomBytes(64)].filter((b) => b !== 0).map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('') + '\n';
  let pid: number;
  try {
    calls++;
    ({ pid } = await agent.call<{ pid: number }>('guest-exec', {
      path: '/bin/sh',
      arg: ['-c', STOCK_IDENTITY_SCRIPT, 'instaclone-identity', plan.hostname, plan.machineId, plan.mac, plan.ip, String(o.prefixLen), o.gateway, o.iface ?? '', o.net, o.sshKeys ? '1' : '0', offset],
      'input-data': Buffer.from(entropyEsc).toString('base64'),
      'capture-output': true,
    }, timeoutMs));
  } catch (e) {
    const m = (e as Error).message;
    throw fail(`the guest agent could not run /bin/sh (${m})${/disabled|not allowed|blocked/i.test(m) ? '; the agent blocks guest-exec: allow it (see the compatibility report)' : ''}`);
  }
  // 3. while the script runs: the urandom read-back (no process)
  let urandomHex = '';
  try {
    calls += 3;
    urandomHex = (await readGuestFile(agent, '/dev/urandom', 16, timeoutMs)).toString('hex');
  } catch (e) {
    problems.push(`could not read /dev/urandom (${(e as Error).message})`);
  }
  // 4. the script's end. Every agent request costs the guest CPU too (qemu-ga wakes and parses it,
  //    translated afresh in a new child; seen: 100+ polls at 50 ms while the script ran): back off
  let st: { exited: boolean; exitcode?: number; 'out-data'?: string; 'err-data'?: string };
  const until = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 1.5, 400)) {
    calls++;
    st = await agent.call('guest-exec-status', { pid }, timeoutMs);
    if (st.exited) break;
    if (Date.now() > until) throw fail(`the identity script did not finish within ${timeoutMs} ms (guest pid ${pid})`);
    await sleep(wait);
  }
  const script = ms(tX);
  const out = st['out-data'] ? Buffer.from(st['out-data'], 'base64').toString('utf8') : '';
  const errText = st['err-data'] ? Buffer.from(st['err-data'], 'base64').toString('utf8') : '';
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  if (errText.trim()) problems.push(`guest said: ${errText.trim().split('\n').join('; ')}`);
  const entropy = kv.get('entropy') === 'ok';
  if (!entropy) problems.push('could not add host entropy through /dev/urandom');
  // no GNU date (or it failed): qemu-ga sets the clock (settimeofday, then hwclock -w)
  let clockError: string | null = null;
  let setTime = offMs;
  if (kv.get('clock') !== 'date') {
    const t = performance.now();
    calls++;
    await agent.call('guest-set-time', { time: Date.now() * 1e6 }, timeoutMs).catch((e) => (clockError = (e as Error).message));
    setTime = performance.now() - t;
  }
  const iface = guestText(kv.get('iface') ?? o.iface ?? '', 40); // a name the guest gave: bounded before any use
  // 5. the address the guest really uses: the renewed lease lands a moment later; poll the agent
  const tL = performance.now();
  let addrs: string[] = [];
  let macSeen = '';
  const deadline = Date.now() + Math.min(timeoutMs, 60_000);
  let renewed = false;
  const renewAt = Date.now() + 15_000;
  for (;;) {
    calls++;
    const ifs = await agent.call<GuestIf[]>('guest-network-get-interfaces', undefined, timeoutMs).catch(() => [] as GuestIf[]);
    const me = ifs.find((x) => x.name === iface);
    addrs = v4(me);
    macSeen = (me?.['hardware-address'] ?? '').toLowerCase();
    if ((addrs.length === 1 && addrs[0] === `${plan.ip}/${o.prefixLen}`) || Date.now() > deadline) break;
    if (o.net === 'networkd' && !renewed && Date.now() > renewAt && !addrs.some((a) => a.startsWith(`${plan.ip}/`))) {
      renewed = true;
      calls++;
      await agent.exec(['networkctl', 'renew', iface], { timeoutMs, firstPollMs: 50, maxPollMs: 50 }).catch(() => undefined);
    }
    await sleep(100);
  }
  const lease = ms(tL);
  calls++;
  const before = Date.now();
  const guestMs = (await agent.call<number>('guest-get-time', undefined, timeoutMs).catch(() => NaN)) / 1e6;
  const after = Date.now();
  // how far the guest clock lies outside the host's window [sent, answered]
  const clockSkewMs = !Number.isFinite(guestMs) ? NaN : guestMs < before ? Math.round(guestMs - before) : guestMs > after ? Math.round(guestMs - after) : 0;

  const got = { hostname: kv.get('hostname') ?? '', etc: kv.get('etchostname') ?? '', mid: kv.get('machineid') ?? '' };
  if (got.hostname !== plan.hostname) problems.push(`hostname is "${guestText(got.hostname, 80)}", expected "${plan.hostname}"`);
  if (got.etc !== plan.hostname) problems.push(`/etc/hostname is "${guestText(got.etc, 80)}", expected "${plan.hostname}"`);
  if (got.mid !== plan.machineId) problems.push(`/etc/machine-id is "${guestText(got.mid, 80)}", expected "${plan.machineId}"`);
  if (macSeen !== plan.mac.toLowerCase()) problems.push(`${iface || 'the primary interface'} MAC is "${macSeen}", expected "${plan.mac}"`);
  if (addrs.length !== 1 || addrs[0] !== `${plan.ip}/${o.prefixLen}`) {
    problems.push(`${iface || 'the primary interface'} has ${addrs.length ? guestList(addrs) : 'no IPv4 address'}, expected ${plan.ip}/${o.prefixLen} only${o.net === 'static' ? '' : ` (by DHCP through ${o.net})`}`);
  }
  if (urandomHex && !/^[0-9a-f]{32}$/.test(urandomHex)) problems.push(`could not read 16 bytes of /dev/urandom (got "${guestText(urandomHex, 40)}")`);
  if (!Number.isFinite(clockSkewMs)) problems.push('could not read the guest clock (guest-get-time)');
  else if (Math.abs(clockSkewMs) > 2000) problems.push(`the guest clock is ${(clockSkewMs / 1000).toFixed(1)} s off the host's${clockError ? ` (guest-set-time: ${clockError})` : ''}`);
  if (problems.length) throw fail(problems.join('; '));
  return {
    ...plan,
    mac: plan.mac.toLowerCase(),
    clockSkewMs,
    urandomHex,
    vmgenidInGuest: null,
    vmgenidReseedSeen: kv.get('vmgenid') === 'driver',
    entropyReseeded: entropy,
    applyMs: ms(t0),
    agentCalls: calls,
    phasesMs: { setTime: Math.round(setTime * 10) / 10, script, lease },
    clockMethod: kv.get('clock') === 'date' ? 'date' : 'guest-set-time',
    ...(kv.get('steps') ? { guestSteps: guestText(guestSteps(kv.get('t0'), kv.get('steps')!), 400) } : {}),
    method: 'agent',
    // only new keys are compared among siblings (children that keep the parent's keys share them)
    ...(o.sshKeys && kv.get('sshkey') ? { sshHostKey: guestText(kv.get('sshkey')!, 200) } : {}),
    iface,
  };
}

/** "files:12.34,mac:13.01," (uptime marks, s) → "files:120,mac:790" (ms since the script began, each mark from t0) */
function guestSteps(t0: string | undefined, steps: string): string {
  const base = Number(t0);
  return steps
    .split(',')
    .filter(Boolean)
    .map((s) => {
      const [k, v] = s.split(':');
      return `${k}:${Number.isFinite(base) ? Math.round((Number(v) - base) * 1000) : '?'}`;
    })
    .join(',');
}
