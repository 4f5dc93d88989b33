// The tests as a gate: in CI (INSTACLONE_TEST_STRICT=1) a conditional suite that cannot run fails
// instead of skipping, and the closing summary names every skipped test and counts Playwright's own errors.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ic-gate-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('strict mode', () => {
  it('fails the PostgreSQL suite when no server could be started, with the reason, instead of skipping it', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, INSTACLONE_TEST_STRICT: '1', INSTACLONE_TEST_PG_ERROR: 'initdb: cannot be run as root' };
    delete env.INSTACLONE_TEST_PG_URL;
    delete env.CI;
    const r = spawnSync('npx', ['vitest', 'run', 'tests/unit/postgres.test.ts'], { env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/could not start PostgreSQL \(initdb: cannot be run as root/);
    const loose = spawnSync('npx', ['vitest', 'run', 'tests/unit/postgres.test.ts'], { env: { ...env, INSTACLONE_TEST_STRICT: '' }, encoding: 'utf8', timeout: 120_000 });
    expect(loose.stdout + loose.stderr).toMatch(/skipped/);
  }, 240_000);

  it('is what CI runs with', () => {
    expect(fs.readFileSync('.ci/run', 'utf8')).toMatch(/^export INSTACLONE_TEST_STRICT=1$/m);
  });
});

describe('the closing summary', () => {
  it('names every skipped test and counts Playwright errors that ran no test as failures', () => {
    fs.writeFileSync(
      path.join(dir, 'vitest.json'),
      JSON.stringify({
        numPassedTests: 3,
        numFailedTests: 0,
        numPendingTests: 1,
        numTodoTests: 0,
        testResults: [{ name: path.join(process.cwd(), 'tests/unit/x.test.ts'), status: 'passed', assertionResults: [{ status: 'passed', fullName: 'a' }, { status: 'skipped', fullName: 'PostgreSQL mode applies the migrations' }] }],
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'playwright.json'),
      JSON.stringify({
        stats: { expected: 2, unexpected: 0, skipped: 1 },
        errors: [{ message: 'Error: Timed out waiting 120000ms from config.webServer.\nmore' }],
        suites: [{ file: '04-wall.spec.ts', suites: [], specs: [{ title: 'wall updates', file: '04-wall.spec.ts', tests: [{ status: 'skipped' }] }] }],
      }),
    );
    const r = spawnSync(process.execPath, ['scripts/test-summary.mjs', dir], { encoding: 'utf8' });
    expect(r.stdout).toContain('skipped: tests/unit/x.test.ts > PostgreSQL mode applies the migrations');
    expect(r.stdout).toContain('skipped: 04-wall.spec.ts > wall updates');
    expect(r.stdout).toContain('playwright error: Error: Timed out waiting 120000ms from config.webServer.');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('5 passed, 1 failed, 2 skipped');
    expect(r.status).toBe(1);
  });
});
