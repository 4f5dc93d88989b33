// Hardening: QEMU runs under a seccomp sandbox it really accepts; no user input reaches a shell on
// the host (every child_process call uses an argv array, no `shell: true`, no `exec`/`execSync`,
// no `sh -c`); names and other inputs that would end up in argv, file names or hostnames are
// refused at the boundary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { need, when } from '../strict';
import { buildArgv, qemuUser, resetQemuUserCache, type LaunchSpec, type Role } from '@/lib/engine/argv';
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

const spec = (role: Role, o: Partial<LaunchSpec> = {}): LaunchSpec => ({
  role,
  machine: { machine: 'pc', accel: 'tcg', cpu: 'max', memoryMiB: 256, vcpus: 1, kernel: '/img/vmlinuz', initrd: '/img/initrd', cmdline: 'console=ttyS0', tbSizeMiB: 32 },
  runDir: '/dev/shm/instaclone/vms/vm_0123456789ab',
  serialLog: '/var/lib/instaclone/vms/vm_0123456789ab/serial.log',
  ramPath: role === 'cold' ? undefined : '/dev/shm/instaclone/templates/tpl_0123456789ab/ram',
  diskPath: '/dev/shm/instaclone/vms/vm_0123456789ab/overlay.qcow2',
  net: { mac: '52:54:00:12:34:56', ip: '10.0.2.15', hostPorts: {} },
  vmgenid: '6f1c5b8e-3c8e-4b7a-9d7e-0a1b2c3d4e5f',
  name: 'web-1',
  ...o,
});

describe('QEMU sandbox', () => {
  const roles: Role[] = ['parent', 'child', 'receiver', 'cold'];

  it.each(roles)('the %s argv runs QEMU with -sandbox on (obsolete calls and resource control denied; spawn and privilege changes too unless -daemonize needs them)', (role) => {
    const a = buildArgv(spec(role));
    const i = a.indexOf('-sandbox');
    expect(i).toBeGreaterThan(-1);
    const opts = a[i + 1].split(',');
    expect(opts[0]).toBe('on');
    for (const o of ['obsolete=deny', 'resourcecontrol=deny']) expect(opts).toContain(o);
    // QEMU 7.2's -daemonize forks and calls setsid(): with spawn=deny or elevateprivileges=deny it
    // dies with SIGSYS (checked below). Without -daemonize (the engine spawning QEMU detached
    // itself), both must be denied.
    if (!a.includes('-daemonize')) for (const o of ['spawn=deny', 'elevateprivileges=deny']) expect(opts).toContain(o);
    // no migration through a host command: the checkpoint goes in as an fd
    expect(a.join(' ')).not.toMatch(/exec:/);
    // a child maps the template RAM file privately; the parent shares it
    if (role === 'child') expect(a.join(' ')).toMatch(/mem-path=[^,]+,share=off/);
    if (role === 'parent') expect(a.join(' ')).toMatch(/mem-path=[^,]+,share=on/);
  });

  const qemu = (args: string[], input = '') =>
    spawnSync(qemuBinaryPath(), ['-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S', ...args], { input, encoding: 'utf8', timeout: 15_000 });
  const haveQemu = !(qemu(['-version']).error);

  it.runIf(when(haveQemu))('is accepted by the installed QEMU, daemonized the way the engine starts it', async () => {
    need(haveQemu, 'QEMU is not installed');
    const a = buildArgv(spec('child'));
    const sandbox = a[a.indexOf('-sandbox') + 1];
    const dir = fs.mkdtempSync('/tmp/ic-sandbox-');
    try {
      const daemonize = a.includes('-daemonize') ? ['-daemonize', '-pidfile', `${dir}/pid`] : [];
      const r = qemu(['-sandbox', sandbox, '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`, ...daemonize]);
      expect(r.stderr).not.toMatch(/seccomp|sandbox|Invalid parameter/i);
      expect(r.status).toBe(0);
      if (daemonize.length) {
        const pid = Number(fs.readFileSync(`${dir}/pid`, 'utf8'));
        expect(() => process.kill(pid, 0)).not.toThrow();
        // the filter is really installed in the running daemon
        expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Seccomp:\s+2$/m);
        process.kill(pid, 'SIGKILL');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(when(haveQemu))('documents why: QEMU 7.2 -daemonize dies under spawn=deny / elevateprivileges=deny, while a non-daemonized QEMU runs with both', async () => {
    need(haveQemu, 'QEMU is not installed');
    const dir = fs.mkdtempSync('/tmp/ic-sandbox-');
    try {
      for (const deny of ['spawn=deny', 'elevateprivileges=deny']) {
        const r = qemu(['-sandbox', `on,${deny}`, '-qmp', `unix:${dir}/q.sock,server=on,wait=off`, '-daemonize', '-pidfile', `${dir}/pid`]);
        expect(r.status, deny).not.toBe(0);
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

  it.runIf(when(isRoot && userExists)).each(roles)('the %s argv drops to the QEMU user before daemonizing, and keeps its disk fd (no reopen by path)', (role) => {
    need(isRoot && userExists, `needs root and the user ${userName} (scripts/setup.sh creates it)`);
    const a = buildArgv(spec(role));
    const i = a.indexOf('-runas');
    expect(i).toBeGreaterThan(-1);
    expect(a[i + 1]).toBe(userName);
    expect(i).toBeLessThan(a.indexOf('-daemonize'));
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
  it.runIf(when(isRoot && userExists && haveQemu))('the installed QEMU accepts -runas with the sandbox and really runs as that uid', () => {
    need(isRoot && userExists && haveQemu, `needs root, QEMU and the user ${userName} (scripts/setup.sh creates it)`);
    const a = buildArgv(spec('child'));
    const dir = fs.mkdtempSync('/tmp/ic-runas-');
    try {
      const r = spawnSync(
        qemuBinaryPath(),
        ['-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-sandbox', a[a.indexOf('-sandbox') + 1], '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`, '-runas', userName, '-daemonize', '-pidfile', `${dir}/pid`],
        { encoding: 'utf8', timeout: 15_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const pid = Number(fs.readFileSync(`${dir}/pid`, 'utf8'));
      try {
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
