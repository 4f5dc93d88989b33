// Which block of QEMU uids an engine draws from: an agent the one its PORT selects (agents on one
// machine have distinct ports: disjoint blocks), a console or single host block 0 (unchanged).
import { describe, expect, it } from 'vitest';
import { config } from '@/lib/config';
import { uidPool } from '@/lib/engine/qemu-uids';

const env = (e: Record<string, string>) => e as NodeJS.ProcessEnv;
const agent = { INSTACLONE_AGENT: '1', DATABASE_URL: 'postgresql://x/y', INSTACLONE_HOST_NAME: 'h1' };

describe('QEMU uid blocks', () => {
  it('an agent takes block PORT, anything else block 0, and a block past 2^31 is refused', () => {
    expect(config(env({})).qemu.uidBlock).toBe(0);
    expect(config(env({ DATABASE_URL: 'postgresql://x/y', PORT: '3001' })).qemu.uidBlock).toBe(0); // a console
    expect(config(env({ ...agent, PORT: '3001' })).qemu.uidBlock).toBe(3001);
    expect(config(env({ ...agent })).qemu.uidBlock).toBe(3000);
    expect(() => config(env({ ...agent, PORT: '65535', INSTACLONE_QEMU_UID_COUNT: '65536' }))).toThrow(/passes uid 2\^31/);
  });

  it('blocks of two ports never overlap', () => {
    const keep = { ...process.env };
    try {
      Object.assign(process.env, agent, { PORT: '3001' });
      const a = uidPool();
      process.env.PORT = '3002';
      const b = uidPool();
      expect(a.count).toBe(4096);
      expect(a.base + a.count).toBeLessThanOrEqual(b.base);
      expect(a.base).toBe(810_000 + 3001 * 4096);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in keep)) delete process.env[k];
      Object.assign(process.env, keep);
    }
  });
});
