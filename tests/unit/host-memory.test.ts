// A host's memory in use, as its heartbeat reports it: MemTotal − MemAvailable, and its QEMUs' PSS
// added up (sampled at most every 30 s).
import { describe, expect, it } from 'vitest';
import { memorySampler, memoryUsedBytes, pssBytes } from '@/lib/cluster/host-memory';
import { usedOf } from '@/lib/client/format';

const MEMINFO = 'MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nCached:          3000000 kB\n';

describe('host memory in use', () => {
  it('is MemTotal − MemAvailable (MemFree + Cached on kernels without MemAvailable)', () => {
    expect(memoryUsedBytes(MEMINFO)).toBe((24576000 - 20000000) * 1024);
    expect(memoryUsedBytes(MEMINFO.replace(/MemAvailable.*\n/, ''))).toBe((24576000 - 4000000) * 1024);
    expect(memoryUsedBytes('nonsense')).toBe(0);
    expect(memoryUsedBytes()).toBeGreaterThan(0); // this machine's
  });

  it("adds up the QEMUs' PSS; unreadable ones are left out, and none readable is null, not 0", () => {
    const rollups: Record<number, Record<string, number> | null> = { 1: { Pss: 1000, Rss: 5000 }, 2: { Pss: 24 }, 3: null };
    const read = (pid: number) => rollups[pid] ?? null;
    expect(pssBytes([1, 2, 3], read)).toBe(1024 * 1024);
    expect(pssBytes([], read)).toBe(0);
    expect(pssBytes([3], read)).toBeNull();
    expect(pssBytes([process.pid])).toBeGreaterThan(0); // this process's own smaps_rollup
  });

  it('re-reads the PSS only when the last sample is older than the interval', () => {
    let t = 0;
    let calls = 0;
    const sample = memorySampler(() => (calls++, []), 30_000, () => t);
    expect(sample()).toMatchObject({ qemuPssBytes: 0 });
    t = 29_999;
    sample();
    expect(calls).toBe(1);
    t = 30_000;
    sample();
    expect(calls).toBe(2);
  });

  it('shows use / total, compact on the wall when both share a unit', () => {
    const GiB = 2 ** 30;
    expect(usedOf(4.1 * GiB, 23.5 * GiB)).toBe('4.1 GiB / 23.5 GiB');
    expect(usedOf(4.1 * GiB, 23.5 * GiB, true)).toBe('4.1 / 23.5 GiB');
    expect(usedOf(512 * 2 ** 20, 23.5 * GiB, true)).toBe('512 MiB / 23.5 GiB');
    expect(usedOf(null, 23.5 * GiB, true)).toBe('– / 23.5 GiB');
  });
});
