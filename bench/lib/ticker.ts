// A ticker in a guest: one "tick" line on its serial port every 10 ms; the host timestamps each line
// on arrival at the VM's serial socket. The guest's own clock stops while QEMU is paused (TCG's TSC
// and timers follow the VM clock), so only an outside clock shows the gap the guest's program lived.
import net from 'node:net';

export interface Ticks {
  stamps: number[];
  close: () => void;
}

/** Connects to a VM's serial socket (QEMU serves one client: nobody else may type meanwhile). */
export function listenTicks(serialSock: string): Ticks {
  const stamps: number[] = [];
  const c = net.createConnection(serialSock);
  c.on('data', (b) => {
    const n = b.toString().split('tick').length - 1;
    for (let i = 0; i < n; i++) stamps.push(performance.now());
  });
  c.on('error', () => undefined);
  return { stamps, close: () => c.destroy() };
}

/** The guest command that starts the ticker in the background (busybox sh + usleep). */
export const TICKER_CMD = '(while :; do echo tick; usleep 10000; done) </dev/null >/dev/ttyS0 2>&1 &';

/**
 * Largest gap between consecutive ticks over [from, to] (host ms), counting the last tick before
 * `from` and the first after `to`: a pause that spans the whole window still shows.
 */
export function maxGap(stamps: number[], from: number, to: number): number {
  const first = Math.max(0, stamps.findLastIndex((t) => t < from));
  const after = stamps.findIndex((t) => t > to);
  const s = stamps.slice(first, after < 0 ? stamps.length : after + 1);
  let g = 0;
  for (let i = 1; i < s.length; i++) g = Math.max(g, s[i] - s[i - 1]);
  return g;
}
