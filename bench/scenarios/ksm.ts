// PSS per idle child with KSM (INSTACLONE_KSM=on), beside the plain figure: N children forked with
// every QEMU wholly mergeable (the engine's prctl wrapper), left idle, read with ksmd stopped, then
// ksmd started at the host's own scan settings (what INSTACLONE_KSM=on keeps) until their merged
// pages stop growing; ksmd's CPU while merging (per child) and afterwards (per second, steady).
// Root only; the host's KSM settings are put back and everything unmerged at the end.
import type { Engine } from '../../lib/engine';
import { forkSchema } from '../../lib/validations';
import { ksmSession, ksmUnavailable } from '../lib/ksm';
import { smapsRollup } from '../lib/proc';

export interface KsmIdleResult {
  children: number;
  /** PSS per child (MiB) of the same children before and after merging */
  pssOffMiB: number[];
  pssOnMiB: number[];
  mergedMiBPerChild: number;
  settled: boolean;
  settleS: number;
  ksmdCpuMsPerChild: number;
  ksmdSteadyPct: number;
  fullScans: number;
  mergeableProcesses: number;
  settings: Record<string, string>;
}

export async function ksmIdle(E: Engine, templateId: string, n: number, o = { idleS: 30, settleS: 300, steadyS: 15 }): Promise<KsmIdleResult> {
  const why = ksmUnavailable();
  if (why) throw new Error(`KSM not measured: ${why}`);
  const ksm = ksmSession({}); // the host's scan settings, as INSTACLONE_KSM=on leaves them
  const before = process.env.INSTACLONE_KSM;
  const ids: string[] = [];
  try {
    process.env.INSTACLONE_KSM = 'on'; // QEMUs spawned wholly mergeable
    const f = await E.fork(templateId, forkSchema.parse({ count: n, prefix: 'ksm' }));
    ids.push(...f.children.map((c) => c.id));
    if (before === undefined) delete process.env.INSTACLONE_KSM;
    else process.env.INSTACLONE_KSM = before;
    ksm.stop(); // the engine's start may have started ksmd: the first reading is unmerged
    await new Promise((r) => setTimeout(r, o.idleS * 1000));
    const l = await E.list();
    const pids = ids.map((id) => l.vms.find((v) => v.id === id)?.pid).filter((p): p is number => !!p);
    const pss = () => pids.map((p) => (smapsRollup(p)?.pss ?? NaN) / 1024);
    const pssOffMiB = pss();
    const m = await ksm.merge(pids, o.settleS);
    const pssOnMiB = pss();
    const ksmdSteadyPct = await ksm.steadyPct(o.steadyS);
    return {
      children: pids.length,
      pssOffMiB,
      pssOnMiB,
      mergedMiBPerChild: (m.mergedPages * 4) / 1024 / pids.length,
      settled: m.settled,
      settleS: m.settleS,
      ksmdCpuMsPerChild: (1000 * m.cpuS) / pids.length,
      ksmdSteadyPct,
      fullScans: m.fullScans,
      mergeableProcesses: m.mergeableProcesses,
      settings: ksm.settings,
    };
  } finally {
    if (before === undefined) delete process.env.INSTACLONE_KSM;
    else process.env.INSTACLONE_KSM = before;
    try {
      ksm.restore();
    } finally {
      for (const id of ids) await E.remove(id, { force: true }).catch(() => undefined);
    }
  }
}
