// Per-child identity: hostname, /etc/machine-id, MAC, IP, clock and a fresh RNG, applied through
// the guest agent right after a fork and then read back from inside the guest.
//
// Latency matters (this runs for every child of every fork, and a fresh child's TCG translation
// cache is empty, so every guest process start is slow), so the whole customisation is ONE
// guest-exec of /usr/sbin/instaclone-identity (lib/guest/tiny/instaclone-identity.c): a static
// binary that sets the clock (host time in ns, as argv), hostname, machine-id, MAC, address, route,
// adds host entropy (64 bytes on stdin) + RNDRESEEDCRNG, sends a gratuitous ARP, and prints what the
// guest now reports, using syscalls and ioctls only (no fork/exec). Values are argv entries, never
// interpolated into anything. Then the guest-exec-status polls of that exec (typically one to three).
//
// Faster still (templates whose image serves it, MachineConfig.identityChannel): the resident
// `instaclone-identity --serve` on its own virtio-serial port takes the same values as ONE line and
// answers ONE line with the same read-back (identity-channel.ts): no guest-exec, no process start.
// No answer within a short timeout → the guest-exec path below, noted in VerifiedIdentity.channelFallback.
//
// Images without the helper (older builds, the debian image) get the previous path: guest-set-time
// (qemu-ga settimeofday + hwclock) and ONE busybox `sh -c SCRIPT` (about 8 forks) with the same
// argv/stdin contract, using /usr/sbin/instaclone-reseed for the entropy. Which one a guest has is
// remembered per agent connection.
import type { AgentClient } from '../agent';
import { EngineError } from '../errors';
import { guestText } from '../guest-text';
import type { IdentityChannel } from '../identity-channel';
import { prefixToMask, validatePlan, type IdentityPlan, type VerifiedIdentity } from './plan';
import { knownWithoutHelper, viaChannel, viaHelper, viaScript, type ReadBack, type Values } from './transports';
import { verify } from './verify';

export * from './plan';
export { assertNoCollisions, findCollisions, parseStoredIdentity } from './collisions';
export { IDENTITY_HELPER, IDENTITY_SCRIPT } from './transports';

export interface ApplyIdentityOptions {
  prefixLen?: number;
  gateway?: string;
  /** a label for messages, e.g. the child's name (default: the planned hostname) */
  label?: string;
  timeoutMs?: number;
  /**
   * The VM's resident identity channel (identity-channel.ts). When given and open it is tried first;
   * no answer within `channelTimeoutMs` (or a closed channel) falls back to the guest agent.
   */
  channel?: IdentityChannel | null;
  channelTimeoutMs?: number;
  /** stock-agent guests: regenerate the SSH host keys (identity-agent.ts) */
  sshKeys?: boolean;
}

/**
 * Applies `plan` in the guest behind `agent` and proves it from inside the guest. Throws
 * EngineError('invalid') for a bad plan and EngineError('qemu', 'child X: identity check failed: …')
 * when the guest reports anything other than the plan.
 */
export async function applyIdentity(
  agentOrPromise: AgentClient | Promise<AgentClient>,
  plan: IdentityPlan,
  opts: ApplyIdentityOptions = {},
): Promise<VerifiedIdentity> {
  const prefixLen = opts.prefixLen ?? 8;
  const gateway = opts.gateway ?? '10.0.2.2';
  const label = opts.label ?? plan.hostname;
  validatePlan(plan, prefixLen, gateway);
  const t0 = performance.now();
  const fail = (what: string) => new EngineError('qemu', `child ${label}: identity check failed: ${guestText(what, 2000)}`, { plan }); // it quotes the guest
  // an agent still connecting is awaited only if the channel is not used (its failure is the caller's)
  if (agentOrPromise instanceof Promise) agentOrPromise.catch(() => undefined);
  const v: Values = { plan, mask: prefixToMask(prefixLen), gateway, timeoutMs: opts.timeoutMs ?? 20_000 };

  let tries = 0; // requests that brought nothing back (a silent channel, a guest without the helper)
  let channelFallback: string | undefined;
  let r: ReadBack | null = null;
  if (opts.channel) {
    try {
      r = await viaChannel(opts.channel, v, opts.channelTimeoutMs ?? 3000);
    } catch (e) {
      tries++;
      channelFallback = (e as Error).message;
    }
  }
  if (!r) {
    const agent = await agentOrPromise;
    const tryHelper = !knownWithoutHelper(agent);
    r = await viaHelper(agent, v, fail);
    if (!r) {
      if (tryHelper) tries++;
      r = await viaScript(agent, v, fail);
    }
  }

  const judged = verify(plan, prefixLen, r);
  if (judged.problems.length || !('proved' in judged)) throw fail(judged.problems.join('; '));
  return {
    ...judged.proved,
    applyMs: Math.round((performance.now() - t0) * 10) / 10,
    agentCalls: tries + r.calls,
    phasesMs: { setTime: Math.round(r.setTimeMs * 10) / 10, script: Math.round(Number(r.after - r.before) / 1e5) / 10 },
    method: r.method,
    ...(channelFallback ? { channelFallback } : {}),
  };
}
