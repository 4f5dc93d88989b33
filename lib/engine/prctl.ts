// Process options QEMU cannot set for itself, set before it is exec'd in place: perl (Debian's
// Essential perl-base) calls prctl and then execs QEMU with the same pid, no shell, no compiled helper.
// Both options are kept across exec: PR_SET_MEMORY_MERGE (67, Linux ≥ 6.7 keeps it; ksm.ts) makes
// the whole process mergeable by KSM; PR_SET_THP_DISABLE (41) keeps transparent huge pages away.
import fs from 'node:fs';

export const PERL = '/usr/bin/perl';
/** prctl's syscall number per architecture */
const PRCTL_NR: Partial<Record<NodeJS.Architecture, number>> = { x64: 157, arm64: 167 };
export const PR_SET_THP_DISABLE = 41;
export const PR_SET_MEMORY_MERGE = 67;

/** Why options cannot be set here, or null. */
export function prctlUnavailable(): string | null {
  if (!PRCTL_NR[process.arch]) return `prctl is not wired for ${process.arch}`;
  if (!fs.existsSync(PERL)) return `${PERL} is missing (Debian's perl-base)`;
  return null;
}

type Env = Record<string, string | undefined>;

/**
 * `binary argv` as a command that first sets `options` (each prctl(option, 1); a refusal is one
 * stderr line and exit 2), in `env` without the PERL5OPT/PERL5LIB/… variables that would load other
 * code into that perl. No options: the binary itself.
 */
export function withPrctl<E extends Env>(options: number[], binary: string, argv: string[], env: E = {} as E): { cmd: string; args: string[]; env: E } {
  if (!options.length) return { cmd: binary, args: argv, env };
  const nr = PRCTL_NR[process.arch]!;
  const calls = options.map((o) => `syscall(${nr}, ${o}, 1, 0, 0, 0) == 0 or die "prctl(${o}): $!\\n";`).join(' ');
  const clean = Object.fromEntries(Object.entries(env).filter(([k]) => !/^PERL/.test(k))) as E;
  return { cmd: PERL, args: ['-e', `${calls} exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\\n"`, binary, ...argv], env: clean };
}
