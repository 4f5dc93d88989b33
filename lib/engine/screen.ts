// The guest's screen as a PNG (QMP screendump, QEMU ≥ 7.1 has format=png): many real VMs print
// only to the screen, so a boot stuck at a boot loader or a login prompt is visible this way.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { EngineError } from './errors';
import type { Vmm } from './vmm';

/** One screen picture of a running VM (needs a VGA device: imported images have one). */
export async function screenshot(vmm: Vmm): Promise<Buffer> {
  // QEMU writes it (as the QEMU user) into the VM's own run dir; read, then delete
  const file = path.join(vmm.runDir, `screen-${randomBytes(6).toString('hex')}.png`);
  try {
    await vmm.qmp.execute('screendump', { filename: file, format: 'png' }, 10_000);
    const png = fs.readFileSync(file);
    if (png.length < 8 || png.readUInt32BE(0) !== 0x89504e47) throw new EngineError('qemu', 'QEMU wrote no PNG picture of the screen; try again.');
    return png;
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('qemu', `Could not take a picture of the screen (${(e as Error).message}); the VM may have no display device (only imported images have one).`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}
