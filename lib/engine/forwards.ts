// The host ports QEMU really forwards (user-mode networking), read from and changed on the running
// QEMU through HMP `info usernet` / `hostfwd_add` / `hostfwd_remove`. What the engine records and
// shows comes from here, never from what it planned: a prelaunched slot's QEMU was started with the
// slot's own ports, and a fork may want other guest ports than the slot forwards.
import { EngineError } from './errors';
import type { Vmm } from './vmm';

type Hmp = Pick<Vmm['qmp'], 'execute'>;

const hmp = (qmp: Hmp, line: string) => qmp.execute<string>('human-monitor-command', { 'command-line': line });

/** Parses `info usernet`: guest port -> host port of every TCP host forward (127.0.0.1 only). */
export function parseUsernet(text: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const m of text.matchAll(/TCP\[HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+\S+\s+(\d+)/g)) {
    if (m[1] === '127.0.0.1') out[Number(m[3])] = Number(m[2]);
  }
  return out;
}

/** guest port -> host port as QEMU forwards them right now ({} for a VM without user-mode net). */
export async function forwardedPorts(qmp: Hmp): Promise<Record<number, number>> {
  return parseUsernet(await hmp(qmp, 'info usernet'));
}

/**
 * Makes QEMU forward exactly `want` (guest port -> host port) to `ip`, starting from `have`
 * (what it forwards now): removes the others, adds the missing ones, and returns what it forwards
 * afterwards. Throws when QEMU refuses a rule (e.g. the host port was taken meanwhile).
 */
export async function setForwards(qmp: Hmp, ip: string, have: Record<number, number>, want: Record<number, number>): Promise<Record<number, number>> {
  for (const [gp, hp] of Object.entries(have)) {
    if (want[Number(gp)] !== hp) await hmp(qmp, `hostfwd_remove net0 tcp:127.0.0.1:${Number(hp)}`);
  }
  for (const [gp, hp] of Object.entries(want)) {
    if (have[Number(gp)] === hp) continue;
    const said = (await hmp(qmp, `hostfwd_add net0 tcp:127.0.0.1:${Number(hp)}-${ip}:${Number(gp)}`)).trim();
    if (said) throw new EngineError('conflict', `QEMU could not forward host port ${hp} to guest port ${gp} (${said}); the port may have been taken meanwhile, so fork again.`);
  }
  return forwardedPorts(qmp);
}

/** Throws unless QEMU forwards exactly what the engine is about to record. */
export function assertForwards(vmName: string, planned: Record<number, number>, actual: Record<number, number>): void {
  const a = JSON.stringify(Object.entries(planned).sort());
  const b = JSON.stringify(Object.entries(actual).sort());
  if (a !== b) throw new EngineError('qemu', `QEMU forwards ${b} for ${vmName}, not the planned ${a}; remove the VM and fork it again.`);
}
