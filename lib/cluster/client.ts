// A console's calls to an agent's internal API (agent-server.ts), with the shared secret.
import { config } from '../config';
import { EngineError, httpStatus, type EngineErrorCode } from '../engine/errors';
import type { HostRow } from './hosts';

/** Forks under TCG can take minutes; the agent answers once the children are identified. */
const CALL_TIMEOUT_MS = 15 * 60_000;

export function agentSecret(): string {
  const s = config().cluster.agentSecret;
  if (!s) {
    throw new EngineError('unavailable', 'This console has agents to call but no INSTACLONE_AGENT_SECRET (the one the agents were started with): set it and restart the console.');
  }
  return s;
}

export async function callAgent<T>(host: Pick<HostRow, 'name' | 'url'>, method: string, path: string, body?: unknown, actor = 'console'): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, host.url), {
      method,
      headers: { authorization: `Bearer ${agentSecret()}`, 'content-type': 'application/json', 'x-instaclone-actor': actor },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch (e) {
    throw new EngineError('unavailable', `Host "${host.name}" did not answer at ${host.url} (${(e as Error).message}); check that its agent runs, or pick another host.`);
  }
  const out = (await res.json().catch(() => null)) as (T & { error?: string; code?: string }) | null;
  if (res.ok && out) return out;
  const code = (out?.code && Object.hasOwn(httpStatus, out.code) ? out.code : res.status === 401 ? 'unavailable' : 'internal') as EngineErrorCode;
  const msg = res.status === 401 ? `Host "${host.name}" refused this console's INSTACLONE_AGENT_SECRET: give the console and the agents the same secret.` : `Host "${host.name}": ${out?.error ?? `answered ${res.status}`}`;
  throw new EngineError(code, msg);
}
