// End-to-end tests: the real console (next start) against real QEMU (tiny image), in Debian's Chromium.
// Each run gets its own INSTACLONE_HOME / INSTACLONE_RUN; the guest image comes from the shared cache
// (INSTACLONE_IMAGE_CACHE, default ~/.cache/instaclone/images) so it is not rebuilt. The config is
// evaluated in the runner and in each worker: the temp dirs are made once and passed on through env.
import { defineConfig } from '@playwright/test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PORT = Number(process.env.E2E_PORT || 3100);
if (!process.env.E2E_HOME) {
  process.env.E2E_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'instaclone-e2e-home-'));
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  process.env.E2E_RUN = fs.mkdtempSync(path.join(shm, 'instaclone-e2e-run-'));
}
process.env.E2E_BASE_URL = `http://localhost:${PORT}`;
const cache = process.env.INSTACLONE_IMAGE_CACHE || path.join(os.homedir(), '.cache/instaclone/images');

export default defineConfig({
  testDir: 'tests/e2e',
  testMatch: /.*\.spec\.ts$/,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 240_000,
  expect: { timeout: 30_000 },
  outputDir: 'test-results/e2e',
  globalTeardown: './tests/e2e/global-teardown.ts',
  reporter: process.env.CI ? [['list'], ['html', { open: 'never', outputFolder: 'test-results/e2e-report' }]] : 'list',
  use: {
    baseURL: process.env.E2E_BASE_URL,
    headless: true,
    viewport: { width: 1440, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'on',
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    },
  },
  webServer: {
    command: `npx tsx scripts/ensure-image.ts tiny && npx tsx scripts/preflight.ts && npx next start -p ${PORT}`,
    url: `http://localhost:${PORT}/api/health`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      INSTACLONE_HOME: process.env.E2E_HOME!,
      INSTACLONE_RUN: process.env.E2E_RUN!,
      INSTACLONE_IMAGE_CACHE: cache,
      PORT: String(PORT),
      NEXT_TELEMETRY_DISABLED: '1',
      DATABASE_URL: `file:${path.join(process.env.E2E_HOME!, 'instaclone.db')}`,
    },
  },
});
