// The resident identity channel: a virtserialport `org.instaclone.identity.0` (argv.ts, when the
// template's MachineConfig has identityPort) on the VM's identity.sock, served in the guest by
// `instaclone-identity --serve` (lib/guest/tiny/instaclone-identity.c, started by /init). A child's
// identity is then ONE request line written and ONE reply line read: no guest-exec, no process start
// in the fresh child (whose TCG translation cache is empty, so qemu-ga's fork+exec is what was slow).
//
// Protocol (one line each way, ASCII, fields never contain spaces or tabs; the plan is validated first):
//   request  NONCE HOSTNAME MACHINE_ID MAC IP NETMASK GATEWAY TIME_NS ENTROPY_HEX\n
//   reply    nonce=NONCE\tkey=value\t...\terr=PROBLEMS\n   (same keys as the one-shot helper prints)
//   probe    NONCE\n  ->  nonce=NONCE\tpong=1\n
// The host connects when the VMM is launched (for a child: before the checkpoint is loaded and
// `cont`), so the guest never sees the port closed across the fork and stays blocked in read().
// One client at a time (QEMU chardev socket): one IdentityChannel per VMM.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class IdentityChannelError extends Error {}

/** One request line (fields validated by applyIdentity; refuses whitespace anyway). */
export function buildIdentityRequest(f: {
  nonce: string;
  hostname: string;
  machineId: string;
  mac: string;
  ip: string;
  mask: string;
  gateway: string;
  timeNs: bigint | string;
  entropy: Buffer;
}): string {
  const fields = [f.nonce, f.hostname, f.machineId, f.mac, f.ip, f.mask, f.gateway, String(f.timeNs), f.entropy.toString('hex')];
  for (const v of fields) {
    if (!v || /[\s]/.test(v)) throw new IdentityChannelError(`identity request field "${v}" is empty or holds whitespace`);
  }
  return fields.join(' ') + '\n';
}

/** A reply line → key/value map (TAB-separated key=value; values are trimmed). */
export function parseIdentityReply(line: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const part of line.replace(/\r?\n$/, '').split('\t')) {
    const i = part.indexOf('=');
    if (i > 0) kv.set(part.slice(0, i), part.slice(i + 1).trim());
  }
  return kv;
}

export const newNonce = () => randomBytes(8).toString('hex');

export class IdentityChannel {
  private buf = '';
  private closed = false;
  private waiters: { nonce: string; resolve: (kv: Map<string, string>) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly stream: Duplex) {
    stream.setEncoding?.('utf8');
    stream.on('data', (d: string | Buffer) => this.onData(typeof d === 'string' ? d : d.toString('utf8')));
    const end = () => this.fail(new IdentityChannelError('the identity channel closed'));
    stream.on('close', end);
    stream.on('end', end);
    stream.on('error', (e) => this.fail(new IdentityChannelError(`the identity channel failed: ${e.message}`)));
  }

  /** Connects to a VMM's identity.sock (retries while QEMU creates it). */
  static async connect(socketPath: string, timeoutMs = 3000): Promise<IdentityChannel> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await new Promise<net.Socket>((resolve, reject) => {
          const c = net.createConnection(socketPath);
          c.once('connect', () => {
            c.off('error', reject);
            resolve(c);
          });
          c.once('error', reject);
        });
        return new IdentityChannel(s);
      } catch (e) {
        if (Date.now() >= deadline) throw new IdentityChannelError(`could not connect to ${socketPath}: ${(e as Error).message}`);
        await sleep(10);
      }
    }
  }

  get usable(): boolean {
    return !this.closed;
  }

  private onData(d: string) {
    this.buf += d;
    if (this.buf.length > 1 << 20) this.buf = this.buf.slice(-65536); // never grows without bound
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const kv = parseIdentityReply(line);
      const nonce = kv.get('nonce');
      // a reply to nobody waiting (a timed-out earlier request) is dropped
      const i = this.waiters.findIndex((w) => w.nonce === nonce);
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(kv);
    }
  }

  private fail(e: Error) {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  /** Sends `line` (which starts with `nonce`) and resolves with the reply carrying that nonce. */
  request(line: string, nonce: string, timeoutMs: number): Promise<Map<string, string>> {
    if (this.closed) return Promise.reject(new IdentityChannelError('the identity channel is closed'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const w = {
        nonce,
        resolve: (kv: Map<string, string>) => {
          clearTimeout(timer);
          resolve(kv);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new IdentityChannelError(`no answer on the identity channel within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
      this.stream.write(line);
    });
  }

  /** A liveness probe: true when the guest's resident helper answers within `timeoutMs`. */
  async probe(timeoutMs: number): Promise<boolean> {
    const nonce = newNonce();
    try {
      const kv = await this.request(`${nonce}\n`, nonce, timeoutMs);
      return kv.get('pong') === '1';
    } catch {
      return false;
    }
  }

  close() {
    this.closed = true;
    this.stream.destroy();
    this.fail(new IdentityChannelError('the identity channel is closed'));
  }
}
