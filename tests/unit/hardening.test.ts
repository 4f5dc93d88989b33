// Hardening: QEMU runs under a seccomp sandbox it really accepts; no user input reaches a shell on
// the host (every child_process call uses an argv array, no `shell: true`, no `exec`/`execSync`,
// no `sh -c`); names and other inputs that would end up in argv, file names or hostnames are
// refused at the boundary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { need, when } from '../strict';
import { buildArgv, qemuUser, resetQemuUserCache, type Role } from '@/lib/engine/argv';
import { launchSpec } from './fixtures';
import { qemuBinaryPath } from '@/lib/engine/qemu-version';
import { forkSchema, nameSchema, prefixSchema, prepareSchema } from '@/lib/validations';

const root = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'generated' || e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|tsx|js|mjs|cjs)$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
const serverCode = ['lib', 'app', 'bin', 'scripts', 'instrumentation.ts', 'server.ts']
  .map((p) => path.join(root, p))
  .flatMap((p) => (fs.existsSync(p) && fs.statSync(p).isFile() ? [p] : sourceFiles(p)));
const rel = (f: string) => path.relative(root, f);

const spec = launchSpec;

describe('QEMU sandbox', () => {
  const roles: Role[] = ['parent', 'child', 'receiver', 'cold'];

  it.each(roles)('the %s argv runs QEMU with -sandbox on, not daemonized: obsolete calls, resource control and spawning denied, privilege changes too when QEMU keeps the engine\'s user', (role) => {
    const a = buildArgv(spec(role));
    const i = a.indexOf('-sandbox');
    expect(i).toBeGreaterThan(-1);
    const opts = a[i + 1].split(',');
    expect(opts[0]).toBe('on');
    for (const o of ['obsolete=deny', 'resourcecontrol=deny', 'spawn=deny']) expect(opts).toContain(o);
    expect(a).not.toContain('-daemonize'); // it forks: spawn=deny would kill it (checked below)
    // dropping to the VM's uid (-runas/-run-with) is a setuid, which elevateprivileges=deny forbids
    const drops = a.includes('-runas') || a.includes('-run-with');
    expect(opts.includes('elevateprivileges=deny')).toBe(!drops);
    // no migration through a host command: the checkpoint goes in as an fd
    expect(a.join(' ')).not.toMatch(/exec:/);
    // a child maps the template RAM file privately; the parent shares it
    if (role === 'child') expect(a.join(' ')).toMatch(/mem-path=[^,]+,share=off/);
    if (role === 'parent') expect(a.join(' ')).toMatch(/mem-path=[^,]+,share=on/);
  });

  const qemu = (args: string[], input = '') =>
    spawnSync(qemuBinaryPath(), ['-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S', ...args], { input, encoding: 'utf8', timeout: 15_000 });
  const haveQemu = !(qemu(['-version']).error);

  it.runIf(when(haveQemu))('is accepted by the installed QEMU with the engine\'s privilege drop, and the filter is installed', async () => {
    need(haveQemu, 'QEMU is not installed');
    const a = buildArgv(spec('child'));
    const sandbox = a[a.indexOf('-sandbox') + 1];
    const ri = a.findIndex((x) => x === '-runas' || x === '-run-with');
    const drop = ri >= 0 ? a.slice(ri, ri + 2) : [];
    const r = qemu(['-sandbox', sandbox, ...drop, '-qmp', 'stdio'], '{"execute":"qmp_capabilities"}\n{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}\n{"execute":"quit"}\n');
    expect(r.stderr).not.toMatch(/seccomp|sandbox|Invalid parameter/i);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/VM status: paused/);
  });

  it.runIf(when(haveQemu))('documents why: QEMU 7.2 -daemonize dies under spawn=deny, and -runas under elevateprivileges=deny; a detached QEMU runs with spawn=deny', async () => {
    need(haveQemu, 'QEMU is not installed');
    const dir = fs.mkdtempSync('/tmp/ic-sandbox-');
    try {
      const d = qemu(['-sandbox', 'on,spawn=deny', '-qmp', `unix:${dir}/q.sock,server=on,wait=off`, '-daemonize', '-pidfile', `${dir}/pid`]);
      expect(d.status).not.toBe(0);
      if (process.getuid?.() === 0) {
        const r = qemu(['-sandbox', 'on,elevateprivileges=deny', '-runas', 'nobody', '-qmp', 'stdio'], '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
        expect(r.status).not.toBe(0);
      }
      const r = qemu(['-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny', '-qmp', 'stdio'], '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/"return"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps VM names out of QEMU option parsing (a name is one comma-free label)', () => {
    for (const name of ['web-1', 'a', 'x'.repeat(63)]) {
      expect(nameSchema.safeParse(name).success).toBe(true);
      const a = buildArgv(spec('child', { name }));
      expect(a[a.indexOf('-name') + 1]).toBe(`instaclone-${name},debug-threads=off`);
    }
  });
});

describe('QEMU runs as its own unprivileged user (-runas) when the engine is root', () => {
  const roles: Role[] = ['parent', 'child', 'receiver', 'cold'];
  const userName = process.env.INSTACLONE_QEMU_USER ?? 'instaclone-qemu';
  const passwd = fs.existsSync('/etc/passwd') ? fs.readFileSync('/etc/passwd', 'utf8') : '';
  const userExists = !!userName && passwd.split('\n').some((l) => l.startsWith(`${userName}:`));
  const isRoot = process.getuid?.() === 0;
  const withUser = (v: string | undefined, fn: () => void) => {
    const old = process.env.INSTACLONE_QEMU_USER;
    if (v === undefined) delete process.env.INSTACLONE_QEMU_USER;
    else process.env.INSTACLONE_QEMU_USER = v;
    resetQemuUserCache();
    try {
      fn();
    } finally {
      if (old === undefined) delete process.env.INSTACLONE_QEMU_USER;
      else process.env.INSTACLONE_QEMU_USER = old;
      resetQemuUserCache();
    }
  };

  it.runIf(when(isRoot && userExists)).each(roles)('the %s argv drops to the QEMU user (QEMU is not daemonized), and keeps its disk fd (no reopen by path)', (role) => {
    need(isRoot && userExists, `needs root and the user ${userName} (scripts/setup.sh creates it)`);
    const a = buildArgv(spec(role));
    const i = a.indexOf('-runas');
    expect(i).toBeGreaterThan(-1);
    expect(a[i + 1]).toBe(userName);
    expect(a).not.toContain('-daemonize');
    expect(a[a.indexOf('-drive') + 1]).toMatch(/,file\.auto-read-only=off(,|$)/);
    const u = qemuUser();
    expect(u?.uid).toBeGreaterThan(0);
  });

  it.runIf(when(isRoot))('fails closed as root: a QEMU user that does not exist refuses the launch with one sentence (no silent root QEMU)', () => {
    need(isRoot, 'the fallback to root only exists when the engine is root');
    withUser('ic-no-such-user-zz', () => {
      expect(() => qemuUser()).toThrow(/^QEMU would run as root because the user ic-no-such-user-zz does not exist: create it with "bash scripts\/setup.sh" \(as root\), or set INSTACLONE_QEMU_USER= \(empty\) to accept QEMU running as root\.$/);
      expect(() => buildArgv(spec('child'))).toThrow(/QEMU would run as root/);
    });
  });

  it('uses no -runas when INSTACLONE_QEMU_USER is empty (the operator opted out) or the engine is not root', () => {
    for (const v of ['', ...(isRoot ? [] : ['ic-no-such-user-zz'])]) {
      withUser(v, () => {
        expect(qemuUser()).toBeNull();
        for (const role of roles) {
          const a = buildArgv(spec(role));
          expect(a).not.toContain('-runas');
          expect(a.join(' ')).not.toContain('auto-read-only');
        }
      });
    }
    if (!isRoot) withUser(undefined, () => expect(qemuUser()).toBeNull());
  });

  it('decides once per process (the env is read on first use only)', () => {
    withUser('', () => {
      expect(qemuUser()).toBeNull();
      process.env.INSTACLONE_QEMU_USER = userName;
      expect(qemuUser()).toBeNull();
    });
  });

  const haveQemu = !spawnSync(qemuBinaryPath(), ['-version']).error;
  it.runIf(when(isRoot && userExists && haveQemu))('the installed QEMU, started as the engine starts it, accepts -runas with the sandbox and really runs as that uid', async () => {
    need(isRoot && userExists && haveQemu, `needs root, QEMU and the user ${userName} (scripts/setup.sh creates it)`);
    const { spawnQemu } = await import('@/lib/engine/process');
    const a = buildArgv(spec('child'));
    const dir = fs.mkdtempSync('/tmp/ic-runas-');
    try {
      const { pid } = await spawnQemu(['-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-sandbox', a[a.indexOf('-sandbox') + 1], '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`, '-runas', userName], dir);
      try {
        expect(Number(fs.readFileSync(`${dir}/qemu.pid`, 'utf8'))).toBe(pid);
        const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const uids = st.match(/^Uid:\s+(.*)$/m)![1].trim().split(/\s+/).map(Number);
        expect(uids).toEqual(Array(4).fill(qemuUser()!.uid));
        expect(st).toMatch(/^Seccomp:\s+2$/m);
      } finally {
        process.kill(pid, 'SIGKILL');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('no user input reaches a shell on the host', () => {
  const withChildProcess = serverCode.filter((f) => /from ['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)/.test(fs.readFileSync(f, 'utf8')));

  it('finds the modules that start processes', () => {
    expect(withChildProcess.map(rel)).toEqual(expect.arrayContaining(['lib/engine/process.ts', 'lib/engine/disks.ts']));
  });

  it('never uses shell: true anywhere in server code', () => {
    const bad = serverCode.filter((f) => /shell\s*:\s*(true|['"`])/.test(fs.readFileSync(f, 'utf8'))).map(rel);
    expect(bad).toEqual([]);
  });

  it('imports only the argv-array functions of child_process (no exec/execSync, which take a shell command line)', () => {
    const allowed = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync']);
    for (const f of withChildProcess) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](?:node:)?child_process['"]/g)) {
        for (const name of m[1].split(',').map((s) => s.trim().split(/\s+as\s+/)[0]).filter(Boolean)) {
          expect(allowed.has(name), `${rel(f)} imports ${name} from child_process`).toBe(true);
        }
      }
      expect(src, `${rel(f)} uses a namespace import of child_process`).not.toMatch(/import\s+\*\s+as\s+\w+\s+from\s+['"](node:)?child_process['"]/);
      expect(src, `${rel(f)} requires child_process`).not.toMatch(/require\(['"](node:)?child_process['"]\)/);
    }
  });

  it('never runs `sh -c`/`bash -c` on the host, and runs bash only on fixed scripts of the repo', () => {
    for (const f of withChildProcess) {
      const src = fs.readFileSync(f, 'utf8');
      expect(src, `${rel(f)} passes "-c" to a process`).not.toMatch(/['"`]-c['"`]/);
      for (const m of src.matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync|execFileP|run)\(\s*['"`](?:\/bin\/)?(?:ba)?sh['"`]\s*,\s*\[([^\]]*)\]/g)) {
        // the first argument is a script path built from the repo root, never from input
        expect(m[1].trim(), `${rel(f)}: ${m[0]}`).toMatch(/^(script|path\.join\(root, 'scripts\/[\w.-]+'\))/);
      }
    }
  });

  it('sends warm-up and exec commands only to the guest agent', () => {
    const templates = fs.readFileSync(path.join(root, 'lib/engine/templates.ts'), 'utf8');
    expect(templates).toMatch(/agent\.exec\(\['\/bin\/sh', '-c', cmd\]/);
    expect(templates).not.toMatch(/child_process/);
    const vm = fs.readFileSync(path.join(root, 'lib/engine/vm.ts'), 'utf8');
    expect(vm).not.toMatch(/child_process/);
  });
});

describe('files root writes', () => {
  // setup, build and test scripts run as root: a fixed name in /tmp (world-writable, and
  // fs.protected_symlinks is not on everywhere, e.g. not in this container) may be a local user's
  // symlink, so root's `>` would truncate whatever it points at
  const shellScripts = ['scripts', 'lib/guest', 'tests/fixtures', '.ci']
    .flatMap((d) => fs.readdirSync(path.join(root, d), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && (/\.sh$/.test(e.name) || e.name === 'run')).map((e) => path.join(e.parentPath, e.name)))
    .concat([path.join(root, 'bin/instaclone')]);

  it('writes no file under a fixed name in /tmp', () => {
    expect(shellScripts.map(rel)).toEqual(expect.arrayContaining(['scripts/build.sh', 'scripts/setup.sh', 'bin/instaclone']));
    const bad: string[] = [];
    for (const f of shellScripts) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:>>?|\btee\s+(?:-a\s+)?)\s*["']?(\/tmp\/[^\s"';)|&]*)/g)) {
        if (!/\$|XXX/.test(m[1])) bad.push(`${rel(f)}: ${m[0]}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('bad names and counts are refused at the boundary', () => {
  const bad = [
    'a,b', // QEMU option separator
    'a;rm -rf /',
    '$(touch /tmp/pwned)',
    '`id`',
    '../../etc/passwd',
    'a/b',
    'a b',
    'A',
    '-rf',
    'web-',
    'x'.repeat(64),
    'wéb',
    'web\n1',
    "a'b",
    '',
  ];
  it.each(bad)('refuses the name %j', (n) => {
    expect(nameSchema.safeParse(n).success).toBe(false);
    expect(prepareSchema.safeParse({ name: n }).success).toBe(false);
    expect(prefixSchema.safeParse(n).success).toBe(false);
    expect(forkSchema.safeParse({ count: 1, prefix: n }).success).toBe(false);
  });

  it.each([0, -1, 1.5, 501, '3', null, Number.NaN, Infinity])('refuses the fork count %j', (count) => {
    expect(forkSchema.safeParse({ count }).success).toBe(false);
  });

  it.each([63, 16385, 256.5, '256'])('refuses the memory %j', (memory) => {
    expect(prepareSchema.safeParse({ name: 'ok', memory }).success).toBe(false);
  });
});
