// The CLI ships built (scripts/build-cli.sh → bin/dist/cli.cjs and its start-up snapshot
// bin/dist/cli.blob): bin/instaclone runs the snapshot (or the bundle), rebuilding them when a source
// is newer, and behaves as the TypeScript does.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const bundle = path.join(root, 'bin/dist/cli.cjs');
const blob = path.join(root, 'bin/dist/cli.blob');
const cli = (args: string[], env: Record<string, string> = {}) =>
  exec(path.join(root, 'bin/instaclone'), args, { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('bundled CLI', () => {
  it('builds one JavaScript file that needs no TypeScript at run time and lists its inputs', async () => {
    await exec('bash', [path.join(root, 'scripts/build-cli.sh')]);
    expect(fs.existsSync(bundle)).toBe(true);
    const inputs = fs.readFileSync(path.join(root, 'bin/dist/cli.inputs'), 'utf8').split('\n');
    expect(inputs).toContain('bin/cli.ts');
    const r = await exec(process.execPath, [bundle, '--help']);
    expect(r.stdout).toMatch(/^usage:/);
  });

  it('makes a start-up snapshot that prints what the bundle prints and reads the environment when it runs', async () => {
    await exec('bash', [path.join(root, 'scripts/build-cli.sh')]);
    expect(fs.existsSync(blob)).toBe(true);
    const made = fs.readFileSync(`${blob}.node`, 'utf8');
    expect(made).toMatch(/^\/\S+ \d+ \d+\n$/); // the node binary that made it: path, size, mtime
    const viaSnapshot = await exec(process.execPath, ['--snapshot-blob', blob, '--', '--help']); // without '--', node takes --help as its own
    expect(viaSnapshot.stdout).toBe((await exec(process.execPath, [bundle, '--help'])).stdout);
    // the environment of this run, not of the build: a bad PORT is refused in one sentence
    const bad = await cli(['ls'], { PORT: 'lots', INSTACLONE_URL: '' });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('instaclone: PORT must be a TCP port number (1-65535), not "lots".');
  });

  it('makes the snapshot again when it was made by another node binary', async () => {
    const made = fs.readFileSync(`${blob}.node`, 'utf8');
    fs.writeFileSync(`${blob}.node`, '/opt/other/node 1 1\n');
    const help = await cli(['--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage:/) }); // --help reaches the CLI, not node
    expect(fs.readFileSync(`${blob}.node`, 'utf8')).toBe(made);
  });

  it('drops NODE_EXTRA_CA_CERTS (parsed at every node start) for an http console and keeps it for https', async () => {
    const env = { NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem', INSTACLONE_TOKEN: 'x' };
    const plain = await cli(['ls'], { ...env, INSTACLONE_URL: 'http://127.0.0.1:9' });
    expect(plain.stderr).not.toMatch(/extra certs/);
    const tls = await cli(['ls'], { ...env, INSTACLONE_URL: 'https://127.0.0.1:9' });
    expect(tls.stderr).toMatch(/Ignoring extra certs from `\/nonexistent\/ca\.pem`/);
    expect(tls.stderr).toMatch(/Cannot reach the Instaclone console at https:\/\/127\.0\.0\.1:9/);
  });

  it('refuses bad input with the shared schema before it connects (the console’s own sentence, exit 1)', async () => {
    // a listener that records whether anything connected: a local refusal never reaches it
    const net = await import('node:net');
    let connected = 0;
    const server = net.createServer((c) => { connected++; c.destroy(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const env = { INSTACLONE_URL: url, INSTACLONE_TOKEN: 'x' };
      const cases: [string[], RegExp][] = [
        [['fork', 'web', '--count', '0'], /^instaclone: count: The child count must be at least 1\.$/],
        [['prepare', '--name', 'Bad Name'], /^instaclone: name: A name may contain only lower-case letters/],
        [['images', 'import', 'tiny', '--disk', '/x.qcow2'], /built-in image/],
        [['reset', 'a', 'x'.repeat(201)], /^instaclone: refs/],
        [['pool', 'create', 'p1', '--template', 't', '--size', '2', '--spares', '5'], /^instaclone: spares: The number of spares cannot be more than the pool size/],
      ];
      for (const [args, re] of cases) {
        const r = await cli(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr.trim(), args.join(' ')).toMatch(re);
      }
      expect(connected).toBe(0);
      // a good request does go to the console (which here hangs up: "cannot reach")
      const ok = await cli(['fork', 'web', '--count', '2'], env);
      expect(ok.stderr).toMatch(/Cannot reach the Instaclone console/);
      expect(connected).toBe(1);
    } finally {
      server.close();
    }
  });

  it('bin/instaclone runs the bundle: one-line error and exit 1 when the console is unreachable', async () => {
    const r = await cli(['ls'], { INSTACLONE_URL: 'http://127.0.0.1:9', INSTACLONE_TOKEN: 'x' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/Cannot reach the Instaclone console at http:\/\/127\.0\.0\.1:9/);
  });

  it('rebuilds the bundle when a source is newer than it', async () => {
    const old = new Date(1_000_000_000); // 1970: older than any checked-out source
    fs.utimesSync(bundle, old, old);
    await cli(['--help']);
    expect(fs.statSync(bundle).mtimeMs).toBeGreaterThan(old.getTime() + 1000);
  });
});
