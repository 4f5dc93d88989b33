// Many hosts without a database: the agents' secret check, replica compatibility, names, schemas.
import { describe, expect, it } from 'vitest';
import { actorOf, checkSecret } from '@/lib/cluster/agent-server';
import { replicaRefusal } from '@/lib/cluster/facts';
import { schemaIdent } from '@/lib/cluster/pg';
import { config, hostSchema } from '@/lib/config';
import { agentSecretSchema, clusterForkSchema, hostNameSchema } from '@/lib/validations/hosts';

const env = (e: Record<string, string>) => e as NodeJS.ProcessEnv;
const facts = { name: 'a', cores: 2, memoryBytes: 2 ** 34, qemuVersion: '7.2.22', cpuModel: 'Xeon', accel: 'tcg' };

describe('many hosts', () => {
  it('accepts only the exact shared secret as a bearer token', () => {
    const s = 'k'.repeat(40);
    expect(checkSecret(`Bearer ${s}`, s)).toBe(true);
    for (const h of [undefined, '', s, `Bearer ${s}x`, `Bearer ${s.slice(1)}`, `bearer ${s}`, `Basic ${s}`]) expect(checkSecret(h, s)).toBe(false);
    expect(agentSecretSchema.safeParse('short').success).toBe(false);
    expect(agentSecretSchema.safeParse(undefined).error?.issues[0].message).toMatch(/INSTACLONE_AGENT_SECRET must be set/);
  });

  it('logs the console\'s user as sent (a token keeps its colon), never more than a plain label', () => {
    const req = (v?: string) => ({ headers: v === undefined ? {} : { 'x-instaclone-actor': v } }) as unknown as Parameters<typeof actorOf>[0];
    expect(actorOf(req('token:ci'))).toBe('token:ci');
    expect(actorOf(req('alice\n\u001b[2J<b>'))).toBe('alice2Jb');
    expect(actorOf(req('x'.repeat(500)))).toHaveLength(80);
    expect(actorOf(req())).toBe('console');
  });

  it('places a replica only where the checkpoint can load, and says why not', () => {
    expect(replicaRefusal(facts, { ...facts, name: 'b' })).toBeNull();
    expect(replicaRefusal(facts, { ...facts, name: 'b', qemuVersion: '10.0.2' })).toMatch(/^Host "b" runs QEMU 10\.0\.2 but the template was made with QEMU 7\.2\.22 on "a"/);
    expect(replicaRefusal(facts, { ...facts, name: 'b', cpuModel: 'EPYC' })).toBeNull(); // TCG emulates the CPU
    expect(replicaRefusal({ ...facts, accel: 'kvm' }, { ...facts, name: 'b', accel: 'kvm', cpuModel: 'EPYC' })).toMatch(/same CPU model/);
    expect(replicaRefusal({ ...facts, accel: 'kvm' }, { ...facts, name: 'b', accel: 'tcg' })).toMatch(/same CPU model/);
  });

  it('host names map to distinct, quotable schemas; the single-host path needs no name', () => {
    expect(hostNameSchema.safeParse('web-1').success).toBe(true);
    for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a.b', 'x'.repeat(41), 'a"b']) expect(hostNameSchema.safeParse(bad).success, bad).toBe(false);
    expect(hostSchema('web-1')).toBe('host_web_1');
    expect(schemaIdent('host_web_1')).toBe('"host_web_1"');
    expect(() => schemaIdent('public"; drop table x; --')).toThrow();
    expect(config(env({ INSTACLONE_HOST_NAME: 'h1' })).dbSchema).toBeUndefined(); // SQLite
    expect(config(env({ INSTACLONE_HOST_NAME: 'h1', DATABASE_URL: 'postgresql://x/y' })).dbSchema).toBeUndefined(); // a console
    expect(config(env({ INSTACLONE_HOST_NAME: 'h1', DATABASE_URL: 'postgresql://x/y', INSTACLONE_AGENT: '1' })).dbSchema).toBe('host_h1');
    expect(() => config(env({ INSTACLONE_HOST_NAME: 'Bad_Name' }))).toThrow(/INSTACLONE_HOST_NAME must be/);
    expect(config(env({})).hostName).toMatch(/^[a-z0-9-]+$/);
  });

  it('fork requests carry an optional host and a caller-chosen id', () => {
    expect(clusterForkSchema.parse({ count: 2, host: 'b', requestId: 'abcdefgh' })).toMatchObject({ count: 2, host: 'b', requestId: 'abcdefgh' });
    expect(clusterForkSchema.safeParse({ count: 1, requestId: 'short' }).success).toBe(false);
    expect(clusterForkSchema.safeParse({ count: 1, requestId: '../../etc/passwd' }).success).toBe(false);
  });
});
