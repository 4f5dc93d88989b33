// The read-back judged against the plan: every value the guest reports must be the planned one, the
// guest's clock inside the host's time window, host entropy added. One list of problems, in words;
// what the guest said is quoted through guestText (bounded, no control characters).
import { guestList, guestText } from '../guest-text';
import { IDENTITY_HELPER, type ReadBack } from './transports';
import { guidFromLeHex, type IdentityPlan, type VerifiedIdentity } from './plan';

/** What the guest proved, or the problems found (never both). */
export function verify(
  plan: IdentityPlan,
  prefixLen: number,
  r: ReadBack,
): { problems: string[] } | { problems: []; proved: Omit<VerifiedIdentity, 'applyMs' | 'agentCalls' | 'phasesMs' | 'method' | 'channelFallback'> } {
  const { kv } = r;
  const problems: string[] = [];
  const what = r.method === 'script' ? 'the script' : IDENTITY_HELPER;
  if (r.exitCode !== 0 && !kv.has('time') && !kv.has('timens')) problems.push(`${what} exited with ${r.exitCode}`);
  if (r.stderr.trim()) problems.push(`guest said: ${guestText(r.stderr.trim().split('\n').join('; '), 300)}`);
  const got = {
    hostname: kv.get('hostname') ?? '',
    etchostname: kv.get('etchostname') ?? '',
    machineId: kv.get('machineid') ?? '',
    mac: (kv.get('mac') ?? '').toLowerCase(),
    ipLine: kv.get('ip') ?? '',
  };
  if (got.hostname !== plan.hostname) problems.push(`hostname is "${guestText(got.hostname, 80)}", expected "${plan.hostname}"`);
  if (got.etchostname !== plan.hostname) problems.push(`/etc/hostname is "${guestText(got.etchostname, 80)}", expected "${plan.hostname}"`);
  if (got.machineId !== plan.machineId) problems.push(`/etc/machine-id is "${guestText(got.machineId, 80)}", expected "${plan.machineId}"`);
  if (got.mac !== plan.mac.toLowerCase()) problems.push(`eth0 MAC is "${guestText(got.mac, 40)}", expected "${plan.mac}"`);
  // the helper prints "A.B.C.D/P[ …]"; the script prints `ip -4 -o addr` lines ("inet A.B.C.D/P …")
  const addrs = [...got.ipLine.matchAll(/(?:^|inet |\s)(\d+\.\d+\.\d+\.\d+)\/(\d+)/g)].map((m) => `${m[1]}/${m[2]}`);
  if (addrs.length !== 1 || addrs[0] !== `${plan.ip}/${prefixLen}`) {
    problems.push(`eth0 has ${addrs.length ? guestList(addrs) : 'no IPv4 address'}, expected ${plan.ip}/${prefixLen} only`);
  }
  const urandomHex = kv.get('urandom') ?? '';
  if (!/^[0-9a-f]{32}$/.test(urandomHex)) problems.push(`could not read 16 bytes of /dev/urandom (got "${guestText(urandomHex, 40)}")`);
  const entropyReseeded = kv.get('reseed') === 'ok';
  if (!entropyReseeded) problems.push(`${r.method === 'script' ? '/usr/sbin/instaclone-reseed' : IDENTITY_HELPER} failed to add host entropy (no fresh host entropy)`);
  const vmgenRaw = kv.get('vmgenid') ?? 'unreadable';
  const vmgenidInGuest = vmgenRaw === 'unreadable' ? null : guidFromLeHex(vmgenRaw);
  if (vmgenidInGuest !== null && vmgenidInGuest !== plan.vmgenid.toLowerCase()) {
    problems.push(`the guest sees vmgenid ${vmgenidInGuest}, expected ${plan.vmgenid}`);
  }
  // helper: timens=NS; script: time=SEC USEC
  const tns = /^(\d+)$/.exec(kv.get('timens') ?? '');
  const tm = /^(\d+) (\d+)$/.exec(kv.get('time') ?? '');
  let clockSkewMs = NaN;
  if (!tns && !tm) problems.push(`could not read the guest clock (got "${guestText(kv.get('timens') ?? kv.get('time') ?? '', 40)}")`);
  else {
    const g = tns ? BigInt(tns[1]) : BigInt(tm![1]) * 1_000_000_000n + BigInt(tm![2]) * 1000n;
    const d = g < r.before ? g - r.before : g > r.after ? g - r.after : 0n;
    clockSkewMs = Number(d) / 1e6;
    if (Math.abs(clockSkewMs) > 2000) {
      problems.push(`the guest clock is ${(clockSkewMs / 1000).toFixed(1)} s off the host's${r.clockError ? ` (guest-set-time: ${guestText(r.clockError, 200)})` : ''}`);
    }
  }
  if (problems.length) return { problems };
  return {
    problems: [],
    proved: {
      ...plan,
      mac: plan.mac.toLowerCase(),
      clockSkewMs,
      urandomHex,
      vmgenidInGuest,
      vmgenidReseedSeen: kv.get('vmfork') === 'yes',
      entropyReseeded,
      ...(kv.has('steps') ? { guestSteps: guestText(kv.get('steps')!, 400) } : {}),
    },
  };
}
