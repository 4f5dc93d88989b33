// The compatibility report of a guest: what the parent's stock qemu-guest-agent and
// system offer, probed once at prepare, stored with the template (Template.compat) and returned
// by the API. Each line says what it means for the children. The fork reads `network` from it to
// know how a child takes its address.
import type { AgentClient } from './agent';
import type { NetMethod } from './identity-agent';

export interface CompatLine {
  key: 'agent' | 'commands' | 'vmgenid' | 'network' | 'fsfreeze';
  ok: boolean;
  value: string;
  meaning: string;
}

export interface CompatReport {
  agentVersion: string;
  blockedCommands: string[];
  vmgenid: boolean;
  network: { manager: string; iface: string; dhcp: boolean; method: NetMethod };
  fsfreeze: boolean;
  lines: CompatLine[];
}

/** agent commands the stock identity path and prepare rely on */
export const NEEDED_COMMANDS = ['guest-exec', 'guest-exec-status', 'guest-file-open', 'guest-file-read', 'guest-file-write', 'guest-file-close', 'guest-set-time', 'guest-get-time', 'guest-network-get-interfaces'];

// one guest-exec at prepare (its cost does not matter there); builtins where they do
const PROBE = `
ifc=; any=; while read -r i d rest; do [ "$i" = Iface ] || [ "$i" = lo ] && continue; [ -n "$any" ] || any=$i; [ "$d" = 00000000 ] && { ifc=$i; break; }; done < /proc/net/route; [ -n "$ifc" ] || ifc=$any
echo "iface=$ifc"
[ -e /sys/bus/acpi/drivers/vmgenid ] && echo vmgenid=yes
case "$(ip -4 -o addr show dev "$ifc" 2>/dev/null)" in *dynamic*) echo dhcp=yes;; esac
idx=; [ -n "$ifc" ] && read -r idx < "/sys/class/net/$ifc/ifindex"
if [ -n "$idx" ] && [ -r "/run/systemd/netif/links/$idx" ]; then
  while IFS= read -r l; do case "$l" in ADMIN_STATE=configured*|ADMIN_STATE=configuring*) echo manager=networkd;; esac; done < "/run/systemd/netif/links/$idx"
fi
# running processes, by name (NetworkManager's internal DHCP client is no process of its own)
for p in /proc/[0-9]*/comm; do read -r c < "$p" 2>/dev/null; case $c in dhclient) echo dhclient=yes;; NetworkManager) echo nm=yes;; esac; done
for f in /etc/netplan/*.yaml; do [ -e "$f" ] && { echo netplan=yes; break; }; done
`;

export async function probeCompat(agent: AgentClient, opts: { waitNetworkMs?: number } = {}): Promise<CompatReport> {
  const lines: CompatLine[] = [];
  const gi = await agent.call<{ version: string; supported_commands: { name: string; enabled: boolean }[] }>('guest-info', undefined, 10_000);
  const enabled = new Map(gi.supported_commands.map((c) => [c.name, c.enabled]));
  const blocked = gi.supported_commands.filter((c) => !c.enabled).map((c) => c.name).sort();
  const missing = NEEDED_COMMANDS.filter((c) => !enabled.get(c));
  lines.push({ key: 'agent', ok: true, value: `qemu-guest-agent ${gi.version}`, meaning: 'children are customised through this agent; nothing is installed on the disk.' });
  lines.push({
    key: 'commands',
    ok: missing.length === 0,
    value: blocked.length ? `blocked: ${blocked.join(', ')}` : 'all commands allowed',
    meaning: missing.length
      ? `the agent blocks ${missing.join(', ')}, which the children's identity needs: allow them in the agent's configuration (RHEL: /etc/sysconfig/qemu-ga, the --allow-rpcs/--block-rpcs list) and prepare again.`
      : 'every command the children\'s identity needs is allowed.',
  });
  let kv = new Map<string, string>();
  if (enabled.get('guest-exec')) {
    // the agent often answers before the network is up: wait (bounded) for a route. The default
    // route's interface, else any routed one: an isolated guest (restrict=on) gets no gateway by DHCP
    const until = Date.now() + (opts.waitNetworkMs ?? 60_000);
    for (;;) {
      const r = await agent.exec(['/bin/sh', '-c', PROBE], { timeoutMs: 120_000 });
      kv = new Map();
      for (const l of r.stdout.split('\n')) {
        const i = l.indexOf('=');
        if (i > 0) kv.set(l.slice(0, i), l.slice(i + 1).trim());
      }
      if (kv.get('iface') || Date.now() > until) break;
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
  const vmgenid = kv.get('vmgenid') === 'yes';
  lines.push({
    key: 'vmgenid',
    ok: vmgenid,
    value: vmgenid ? 'vmgenid driver bound' : 'no vmgenid driver',
    meaning: vmgenid
      ? 'the kernel reseeds its random number generator the moment a child resumes (each child has its own VM generation ID); host entropy is added as well.'
      : 'the kernel cannot notice a fork: children get host entropy written to /dev/urandom, but a program that read random numbers before the fork may repeat them; use a kernel with CONFIG_VMGENID (Linux 5.18+).',
  });
  const iface = kv.get('iface') ?? '';
  const dhcp = kv.get('dhcp') === 'yes';
  const manager = kv.get('manager') === 'networkd' ? 'systemd-networkd' : kv.get('nm') ? 'NetworkManager' : kv.get('dhclient') ? 'ifupdown/dhclient' : 'none found';
  const method: NetMethod = !dhcp ? 'static' : manager === 'systemd-networkd' ? 'networkd' : manager === 'NetworkManager' ? 'networkmanager' : manager === 'ifupdown/dhclient' ? 'dhclient' : 'static';
  const netOk = !!iface && (!dhcp || method !== 'static');
  lines.push({
    key: 'network',
    ok: netOk,
    value: `${manager}${kv.get('netplan') ? ' (from netplan)' : ''}, primary interface ${iface || 'none'}, ${dhcp ? 'DHCP' : 'static address'}`,
    meaning: !iface
      ? 'the guest has no routed network interface, so children get no address of their own: configure its network and prepare again.'
      : dhcp && method === 'static'
        ? 'the address comes by DHCP from a client Instaclone does not know, so children may keep the parent\'s address: use systemd-networkd, NetworkManager or ifupdown.'
        : dhcp
          ? `each child gets its own MAC, then renews its DHCP lease through ${manager} and receives its own address (read back before the fork reports it).`
          : `each child gets its own MAC and its own address set on ${iface} (static configuration).`,
  });
  let fsfreeze = false;
  let why = '';
  if (enabled.get('guest-fsfreeze-freeze') && enabled.get('guest-fsfreeze-thaw')) {
    try {
      await agent.call('guest-fsfreeze-freeze', undefined, 30_000);
      fsfreeze = true;
    } catch (e) {
      why = (e as Error).message;
    } finally {
      await agent.call('guest-fsfreeze-thaw', undefined, 30_000).catch(() => undefined);
    }
  } else why = 'the agent blocks guest-fsfreeze-freeze/thaw';
  lines.push({
    key: 'fsfreeze',
    ok: fsfreeze,
    value: fsfreeze ? 'fsfreeze works' : `fsfreeze does not work (${why})`,
    meaning: fsfreeze ? 'a quiesced prepare is possible, so persistent children get a consistent disk.' : 'a quiesced prepare is not possible, so only non-persistent children can be forked.',
  });
  return { agentVersion: gi.version, blockedCommands: blocked, vmgenid, network: { manager, iface, dhcp, method }, fsfreeze, lines };
}

export function parseCompat(json: string | null | undefined): CompatReport | null {
  if (!json) return null;
  try {
    const c = JSON.parse(json) as CompatReport;
    return c && c.network ? c : null;
  } catch {
    return null;
  }
}
