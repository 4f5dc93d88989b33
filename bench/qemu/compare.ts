// Side by side: the same figures on two QEMUs in one run (bench/qemu/worker.ts, one process per
// QEMU and round, order alternated so that the machine's load drifts evenly over both).
// Used by bench/run.ts (scenario "qemu") and on its own:
//   npx tsx bench/qemu/compare.ts /opt/qemu10/usr/bin/qemu-system-x86_64 [--rounds 2] [--children 20]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface QemuFigures {
  qemu: string;
  qemuText?: string;
  binary?: string;
  children: number;
  coldBootMs: number | null;
  fork1Ms: number | null;
  fork1CpuMs: number | null;
  forkNMs: number | null;
  forkNCpuMs: number | null;
  pssPerChildMiB: number | null;
  idleCpuPerChildPct: number | null;
}

export const FIGURES = ['coldBootMs', 'fork1Ms', 'fork1CpuMs', 'forkNMs', 'forkNCpuMs', 'pssPerChildMiB', 'idleCpuPerChildPct'] as const;

export interface Comparison {
  rounds: number;
  children: number;
  /** per binary: every round's figures and their medians */
  runs: { binary: string; version: string; rounds: QemuFigures[]; median: Record<string, number | null> }[];
  /** the second's median ÷ the first's, per figure (< 1: the second is smaller) */
  ratio: Record<string, number | null>;
  errors: string[];
}

function runWorker(binary: string, children: number, env: NodeJS.ProcessEnv): Promise<QemuFigures> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker.ts'), '--children', String(children)], {
      // the same user for both (QEMU 10 has no -runas; -run-with is issue 12's change): root
      // the same device profile on both (the engine picks lean only on QEMU 7): QEMUs compared, not profiles
      env: { ...env, INSTACLONE_QEMU: binary, INSTACLONE_QEMU_USER: '', INSTACLONE_DEVICES: env.INSTACLONE_DEVICES || 'standard' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)));
      else {
        const lines = (err || out).trim().split('\n');
        const why = lines.find((l) => /worker failed:/.test(l)) ?? lines.slice(-3).join(' ');
        reject(new Error(`${binary}: worker exit ${code}: ${why.trim()}`));
      }
    });
  });
}

const median = (xs: (number | null)[]) => {
  const s = xs.filter((x): x is number => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function compareQemus(binaries: [string, string], opts: { rounds: number; children: number; log?: (s: string) => void }): Promise<Comparison> {
  const rounds: QemuFigures[][] = [[], []];
  const errors: string[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 ? [1, 0] : [0, 1];
    for (const i of order) {
      try {
        const f = await runWorker(binaries[i], opts.children, process.env);
        rounds[i].push(f);
        opts.log?.(`round ${r + 1}, QEMU ${f.qemu}: cold ${Math.round(f.coldBootMs ?? NaN)} ms, fork of one ${Math.round(f.fork1Ms ?? NaN)} ms (CPU ${f.fork1CpuMs} ms), fork of ${f.children} ${Math.round(f.forkNMs ?? NaN)} ms, PSS/child ${f.pssPerChildMiB?.toFixed(1)} MiB, idle CPU/child ${f.idleCpuPerChildPct?.toFixed(2)} %`);
      } catch (e) {
        errors.push((e as Error).message);
        opts.log?.(`round ${r + 1}: ${(e as Error).message}`);
      }
    }
  }
  const runs = binaries.map((b, i) => ({
    binary: b,
    version: rounds[i][0]?.qemu ?? 'unknown',
    rounds: rounds[i],
    median: Object.fromEntries(FIGURES.map((k) => [k, median(rounds[i].map((x) => x[k]))])),
  }));
  const ratio = Object.fromEntries(
    FIGURES.map((k) => {
      const a = runs[0].median[k];
      const b = runs[1].median[k];
      return [k, a != null && b != null && a !== 0 ? Math.round((b / a) * 100) / 100 : null];
    }),
  );
  return { rounds: opts.rounds, children: opts.children, runs, ratio, errors };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const alt = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const num = (n: string, d: number) => (args.includes(`--${n}`) ? Number(args[args.indexOf(`--${n}`) + 1]) : d);
  if (!alt) {
    console.error('usage: npx tsx bench/qemu/compare.ts /path/to/other/qemu-system-x86_64 [--rounds N] [--children N]');
    process.exit(2);
  }
  compareQemus(['qemu-system-x86_64', alt], { rounds: num('rounds', 2), children: num('children', 20), log: (s) => console.log(s) }).then((c) => {
    console.log(JSON.stringify(c, null, 2));
  });
}
