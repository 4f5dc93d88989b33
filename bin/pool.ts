// `instaclone pool …`: create, ls, claim, release, resize, push, rm (DESIGN.md). The REST calls and
// output helpers come from cli.ts, so this file only maps arguments to routes; bodies are checked
// against the console's own schemas first, so a bad value is refused before any connection.
import { randomUUID } from 'node:crypto';
import { poolClaimSchema, poolCreateSchema, poolPushSchema, poolResizeSchema } from '../lib/validations/pools';
export interface PoolCliDeps {
  api: (method: string, route: string, body?: unknown) => Promise<any>;
  /** a long action: waits for the result, or with --detach prints {"operation": ID} and says so */
  long: (method: string, route: string, body?: unknown) => Promise<{ detached: true } | { detached: false; r: any }>;
  out: (data: unknown, human: () => string) => void;
  table: (rows: Record<string, unknown>[], cols: string[]) => string;
  num: (v: string | undefined) => number | string | undefined;
  fail: (msg: string) => never;
  /** the body as given, once the schema accepts it; else the schema's sentence as the CLI's error */
  checked: <T>(schema: { safeParse(v: unknown): { success: boolean } }, body: T) => T;
}

export interface PoolOpts {
  host?: string;
  template?: string;
  size?: string;
  spares?: string;
  'on-release'?: string;
  ttl?: string;
  label?: string;
  wait?: string;
  'request-id'?: string;
}

/** Retries of a claim whose answer never came (same request id: the console hands back the same child). */
const CLAIM_RETRIES = 2;

export const POOL_USAGE = `  instaclone pool create NAME --template T --size MAX [--spares K] [--on-release reset|delete] [--ttl DURATION] [--host NAME] [--json]
  instaclone pool ls [--json] | pool claim NAME [--label TEXT] [--wait SECONDS] [--request-id ID] [--json] | pool release VM
  instaclone pool resize NAME [--size N] [--spares K] | pool push NAME --template T2 | pool rm NAME`;

const enc = encodeURIComponent;

export async function poolCommand(args: string[], o: PoolOpts, d: PoolCliDeps): Promise<number> {
  const [sub, ref] = args;
  const need = (what: string) => ref ?? d.fail(`pool ${sub} needs a ${what}: instaclone pool ${sub} ${what.toUpperCase()} (see instaclone --help).`);
  const summary = (p: any) => `pool ${p.name}: ${p.ready}/${p.spares} spares ready, ${p.claimed} claimed, ${p.refilling} refilling (size ${p.size}, template ${p.template ?? p.templateId})`;
  switch (sub) {
    case 'create': {
      const name = need('name');
      if (!o.template) d.fail('pool create needs --template T (the template its children are forked from).');
      if (o.size === undefined) d.fail('pool create needs --size MAX (the most children the pool may hold).');
      const r = await d.api('POST', '/pools', d.checked(poolCreateSchema, {
        name,
        template: o.template,
        size: d.num(o.size),
        ...(o.spares !== undefined ? { spares: d.num(o.spares) } : {}),
        ...(o['on-release'] !== undefined ? { onRelease: o['on-release'] } : {}),
        ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
        ...(o.host ? { host: o.host } : {}),
      }));
      d.out(r, () => summary(r));
      return 0;
    }
    case 'ls':
    case undefined: {
      const r = await d.api('GET', '/pools');
      d.out(r, () =>
        d.table(
          r.pools.map((p: any) => ({
            ...p,
            spares: `${p.ready}/${p.spares}`,
            'p50 ms': p.claimLatencyMs?.p50,
            push: p.push ? `${p.push.done}/${p.push.total}` : null,
            // many hosts: ready/asked per host, e.g. "a 1/1, b 1/1"
            hosts: p.hosts ? p.hosts.map((h: any) => `${h.host} ${h.ready}/${h.spares}${h.state === 'ready' ? '' : ` ${h.state}`}`).join(', ') : undefined,
          })),
          ['name', 'template', 'size', 'spares', 'claimed', 'refilling', 'onRelease', 'claims', 'p50 ms', 'push', 'state', ...(r.pools.some((p: any) => p.hosts) ? ['hosts'] : [])],
        ),
      );
      return 0;
    }
    case 'claim': {
      const name = need('name');
      // always an id (the caller's, or one made here): a retry after a lost answer gets the same child, not a second
      const body = d.checked(poolClaimSchema, {
        ...(o.label !== undefined ? { label: o.label } : {}),
        ...(o.wait !== undefined ? { wait: d.num(o.wait) } : {}),
        requestId: o['request-id'] ?? randomUUID(),
      });
      let r: any;
      for (let attempt = 0; ; attempt++) {
        try {
          r = await d.api('POST', `/pools/${enc(name)}/claim`, body);
          break;
        } catch (e) {
          // an HTTP answer (a refusal) is final; no answer at all is retried with the same id
          if ((e as { status?: number }).status !== undefined || attempt >= CLAIM_RETRIES) throw e;
          await new Promise((res) => setTimeout(res, 500 * (attempt + 1)));
        }
      }
      d.out(r, () => `${r.vm.name} (${r.vm.id}) claimed from ${r.pool} in ${r.claimMs} ms (${r.source}): ${r.vm.identity.hostname} ${r.vm.identity.ip} ${r.vm.identity.mac}`);
      return 0;
    }
    case 'release': {
      const vm = need('vm');
      const r = await d.api('POST', `/vms/${enc(vm)}/release`);
      d.out(r, () => `${r.name}: released (${r.action === 'reset' ? 'reset to a spare' : 'removed; a fresh spare replaces it'})`);
      return 0;
    }
    case 'resize': {
      const name = need('name');
      const r = await d.api('PATCH', `/pools/${enc(name)}`, d.checked(poolResizeSchema, {
        ...(o.size !== undefined ? { size: d.num(o.size) } : {}),
        ...(o.spares !== undefined ? { spares: d.num(o.spares) } : {}),
      }));
      d.out(r, () => summary(r));
      return 0;
    }
    case 'push': {
      const name = need('name');
      if (!o.template) d.fail('pool push needs --template T2 (the template new spares come from).');
      const a = await d.long('POST', `/pools/${enc(name)}/push`, d.checked(poolPushSchema, { template: o.template }));
      if (a.detached) return 0;
      const r = a.r;
      d.out(r, () => `${summary(r)}; spares roll now, claimed children when released`);
      return 0;
    }
    case 'rm': {
      const name = need('name');
      const r = await d.api('DELETE', `/pools/${enc(name)}`);
      d.out(r, () => `removed pool ${r.name} and its ${r.children} child(ren)`);
      return 0;
    }
    default:
      return d.fail(`Unknown pool command "${sub}": use create, ls, claim, release, resize, push or rm (see instaclone --help).`);
  }
}
