// The CLI contract of DESIGN.md, exercised through bin/instaclone against the real console and QEMU:
// JSON shapes on stdout, exit codes, one-line errors on stderr, nothing left behind.
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { BASE, HOME, adminToken, rand } from './helpers';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      path.join(process.cwd(), 'bin/instaclone'),
      args,
      { env: { ...process.env, INSTACLONE_URL: BASE, INSTACLONE_TOKEN: adminToken(), INSTACLONE_HOME: HOME }, timeout: 240_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const json = (r: Run) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

const oneLineError = (r: Run, pattern: RegExp) => {
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
};

test('instaclone prepare, fork (waiting and --detach), ls, exec, images, errors and rm keep the DESIGN.md contract', async () => {
  test.setTimeout(600_000);
  const name = rand('cli');

  const images = json(await cli('images', '--json'));
  expect(images.images.find((i: { name: string }) => i.name === 'tiny')).toMatchObject({
    name: 'tiny',
    sizeBytes: expect.any(Number),
    kernel: expect.stringMatching(/^\d+\.\d+/),
    builtAt: expect.any(String),
  });

  const tpl = json(await cli('prepare', '--image', 'tiny', '--name', name, '--warmup', 'echo warm > /tmp/warm', '--slots', '1', '--prelaunch', '--json'));
  expect(tpl).toMatchObject({ id: expect.any(String), name, state: 'frozen', quiesced: false });
  for (const k of ['bootMs', 'warmupMs', 'freezeMs']) expect(tpl.timings[k]).toBeGreaterThan(0);

  const fork = json(await cli('fork', name, '--count', '2', '--prefix', `${name}-c`, '--json'));
  expect(fork.children).toHaveLength(2);
  for (const c of fork.children) {
    expect(c).toMatchObject({ id: expect.any(String), name: expect.stringMatching(new RegExp(`^${name}-c-\\d+$`)), state: 'running', persistent: false });
    expect(Object.keys(c.identity).sort()).toEqual(['hostname', 'ip', 'mac', 'machineId', 'vmgenid']);
  }
  expect(fork.timings.totalMs).toBeGreaterThan(0);
  expect(fork.timings.perChildMs).toHaveLength(2);

  const ls = json(await cli('ls', '--json'));
  expect(ls.templates.find((t: { name: string }) => t.name === name)).toMatchObject({ id: tpl.id, state: 'frozen', quiesced: false, parentId: null });
  const kids = ls.vms.filter((v: { templateId: string }) => v.templateId === tpl.id);
  expect(kids).toHaveLength(2);
  for (const v of kids) {
    expect(v).toMatchObject({ kind: 'child', state: 'running', persistent: false, pid: expect.any(Number) });
    expect(['starting', 'running', 'stopped', 'crashed', 'failed']).toContain(v.state);
  }

  // exec prints the guest's stdout and exits with the guest command's code; the warm-up ran in the parent
  const child = fork.children[0].name;
  const ex = await cli('exec', child, '--', 'sh', '-c', 'cat /tmp/warm; hostname; exit 4');
  expect(ex.code).toBe(4);
  expect(ex.stdout).toBe(`warm\n${child}\n`);

  // bad input: one clear line, non-zero exit, nothing launched
  oneLineError(await cli('fork', name, '--count', '0'), /at least 1/);
  oneLineError(await cli('fork', name, '--count', '2.5'), /whole number/);
  oneLineError(await cli('fork', name, '--count', '100000'), /at most/);
  oneLineError(await cli('fork', 'no-such-template', '--count', '1'), /No template/);
  oneLineError(await cli('fork', name, '--count', '1', '--persistent'), /--quiesce/);
  oneLineError(await cli('prepare', '--name', 'a/b'), /lower-case letters/);
  oneLineError(await cli('prepare', '--name', 'has space'), /lower-case letters/);
  oneLineError(await cli('exec', child), /needs a command/);
  oneLineError(await cli('rm', name), /child/);
  expect(json(await cli('ls', '--json')).vms.filter((v: { templateId: string }) => v.templateId === tpl.id)).toHaveLength(2);

  // --detach: the operation's id at once; `operation ID` follows it to its result
  const detached = json(await cli('fork', name, '--count', '1', '--prefix', `${name}-d`, '--detach'));
  expect(detached).toEqual({ operation: expect.stringMatching(/^task_/) });
  let op: { kind?: string; state: string; result?: unknown } = { state: 'running' };
  for (let i = 0; i < 240 && op.state === 'running'; i++) {
    op = JSON.parse((await cli('operation', detached.operation, '--json')).stdout);
    if (op.state === 'running') await new Promise((r) => setTimeout(r, 500));
  }
  expect(op).toMatchObject({ kind: 'fork', state: 'succeeded', result: { children: [{ name: `${name}-d-1`, state: 'running' }] } });

  // rm children, then the template: no QEMU of this console remains
  for (const c of [...fork.children, { name: `${name}-d-1` }]) expect((await cli('rm', c.name)).code).toBe(0);
  expect((await cli('rm', name)).code).toBe(0);
  const after = json(await cli('ls', '--json'));
  expect(after.templates.find((t: { name: string }) => t.name === name)).toBeUndefined();
  expect(after.vms.filter((v: { templateId: string }) => v.templateId === tpl.id)).toHaveLength(0);
  const run = process.env.E2E_RUN!;
  let left = '';
  try {
    left = execFileSync('pgrep', ['-f', `${run}/templates/${tpl.id}/`], { encoding: 'utf8' });
  } catch {
    /* pgrep exits 1 when nothing matches */
  }
  expect(left).toBe('');
});
