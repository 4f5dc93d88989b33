// The CLI ships built (scripts/build-cli.sh → bin/dist/cli.mjs): bin/instaclone runs the bundle
// (rebuilding it when a source is newer) and behaves as the TypeScript does.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const bundle = path.join(root, 'bin/dist/cli.mjs');
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
