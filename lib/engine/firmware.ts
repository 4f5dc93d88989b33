// UEFI firmware for imported images: Debian's `ovmf` (code read-only, shared; a variable store per
// VM). The template keeps the store its parent had at freeze, and each child starts from a copy.
import fs from 'node:fs';
import { EngineError } from './errors';
import { config } from '../config';

const PAIRS: [string, string][] = [
  ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'],
  ['/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'],
];

/** The OVMF code and pristine vars files (INSTACLONE_OVMF_CODE / INSTACLONE_OVMF_VARS override). */
export function ovmf(): { code: string; vars: string } {
  const forced = config().qemu.ovmf;
  if (forced) return forced;
  for (const [code, vars] of PAIRS) if (fs.existsSync(code) && fs.existsSync(vars)) return { code, vars };
  throw new EngineError('insufficient', 'UEFI firmware is not installed (no /usr/share/OVMF/OVMF_CODE_4M.fd); install it with `apt-get install ovmf` (scripts/setup.sh does), or import the disk with --firmware bios.');
}

/** A private copy of a variable store for one VM (mode 0600). */
export function copyVars(from: string, to: string): void {
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o600);
}
