// Bridge mode: a tap device per VM, enslaved to the operator's bridge (inside INSTACLONE_NETNS when set).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { config } from '../../config';
import { EngineError } from '../errors';

const execFileP = promisify(execFile);

/** `ip` arguments, inside INSTACLONE_NETNS when set (tests run bridged mode in their own namespace). */
function ipArgs(args: string[]): string[] {
  const ns = config().net.netns;
  return ns ? ['-n', ns, ...args] : args;
}

export function tapName(vmId: string): string {
  return 'ic' + createHash('sha256').update(vmId).digest('hex').slice(0, 12); // 14 chars (IFNAMSIZ 16)
}

export async function createTap(vmId: string, bridge: string): Promise<string> {
  const tap = tapName(vmId);
  const run = async (args: string[]) => {
    try {
      await execFileP('ip', ipArgs(args));
    } catch (e) {
      const msg = ((e as { stderr?: string }).stderr || (e as Error).message).trim();
      throw new EngineError('internal', `Could not set up tap device ${tap} on bridge ${bridge} (ip ${args.join(' ')}: ${msg}); bridged networking needs root and an existing bridge named by INSTACLONE_BRIDGE.`);
    }
  };
  await execFileP('ip', ipArgs(['link', 'del', tap])).catch(() => undefined); // a leftover from a crash
  await run(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await run(['link', 'set', tap, 'master', bridge]);
  await run(['link', 'set', tap, 'up']);
  return tap;
}

/** Removes a VM's tap device (gone already is fine). */
export async function deleteTap(tap: string): Promise<void> {
  await execFileP('ip', ipArgs(['link', 'del', tap])).catch(() => undefined);
}
