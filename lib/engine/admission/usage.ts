// What the host and the VMs use now: host facts (host-probe.ts) and, per template, what its live
// children cost (mean private memory, overlay and disk sizes), for admission control.
import fs from 'node:fs';
import { config } from '../../config';
import { db } from '../../db';
import { allocatedBytes, dirFacts, processMemory, readMeminfo } from '../host-probe';
import { isOurQemu, qemuPidsUnder } from '../process';
import { MiB, type HostFacts, type Usage } from './cost';

export function hostFacts(): HostFacts {
  const cfg = config();
  return { ...readMeminfo(), run: dirFacts(cfg.run), home: dirFacts(cfg.home) };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export async function measureUsage(templateId?: string): Promise<Usage> {
  const cfg = config();
  const run = dirFacts(cfg.run);
  let vmMemoryMiB = 0;
  for (const pid of qemuPidsUnder(cfg.run)) vmMemoryMiB += processMemory(pid)?.anonymousMiB ?? 0;
  if (run.inMemory) vmMemoryMiB += allocatedBytes(cfg.run) / MiB;
  if (!templateId) return { vmMemoryMiB };

  const children = await db().vm.findMany({ where: { templateId, kind: 'child' } });
  const priv: number[] = [];
  const pss: number[] = [];
  const overlays: number[] = [];
  const disks: number[] = [];
  for (const c of children) {
    if (c.pid && c.state === 'running' && isOurQemu(c.pid, c.runDir)) {
      const m = processMemory(c.pid);
      if (m) {
        priv.push(m.anonymousMiB);
        pss.push(m.pssMiB);
      }
    }
    if (c.diskPath && fs.existsSync(c.diskPath)) (c.persistent ? disks : overlays).push(allocatedBytes(c.diskPath) / MiB);
  }
  return {
    vmMemoryMiB,
    template: {
      children: children.length,
      measured: priv.length,
      privateMiB: mean(priv),
      pssMiB: mean(pss),
      overlayMiB: mean(overlays),
      persistentDiskMiB: mean(disks),
    },
  };
}
