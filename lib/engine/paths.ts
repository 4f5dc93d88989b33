// Where every engine file lives. RAM files and sockets on tmpfs (config().run), everything that
// must survive a reboot (checkpoints, base disks, persistent disks, serial logs) in config().home.
import path from 'node:path';
import { config } from '../config';

export const paths = {
  templateHomeDir: (id: string) => path.join(config().home, 'templates', id),
  templateRunDir: (id: string) => path.join(config().run, 'templates', id),
  templateRam: (id: string) => path.join(config().run, 'templates', id, 'ram'),
  templateState: (id: string) => path.join(config().home, 'templates', id, 'state.ckpt'),
  templateDisk: (id: string) => path.join(config().home, 'templates', id, 'disk.qcow2'),
  /** uefi: the OVMF variable store the parent had at freeze (children start from copies) */
  templateVars: (id: string) => path.join(config().home, 'templates', id, 'vars.fd'),
  /** uefi: a VM's own variable store, next to its disk (tmpfs or INSTACLONE_HOME like the disk) */
  varsBeside: (diskPath: string) => path.join(path.dirname(diskPath), 'vars.fd'),
  /** pictures of the screen kept when a prepare failed (named in its error) */
  diagnostics: () => path.join(config().home, 'diagnostics'),
  vmRunDir: (id: string) => path.join(config().run, 'vms', id),
  vmHomeDir: (id: string) => path.join(config().home, 'vms', id),
  vmSerialLog: (id: string) => path.join(config().home, 'vms', id, 'serial.log'),
  overlay: (id: string, persistent: boolean) =>
    persistent ? path.join(config().home, 'vms', id, 'disk.qcow2') : path.join(config().run, 'vms', id, 'overlay.qcow2'),
  migrationSocket: (id: string) => path.join(config().run, 'vms', id, 'migrate.sock'),
};
