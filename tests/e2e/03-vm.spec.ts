// A child's page: identity, serial console (typed into and read back), exec box; then a reset with its
// confirmation, and a bulk delete from the lineage tree with per-item results.
import { expect, test } from '@playwright/test';
import { ensureTemplate, forkViaApi, login, rand, readState, shot } from './helpers';

async function children(): Promise<string[]> {
  const s = readState();
  if (s.children?.length === 3) return s.children;
  const t = await ensureTemplate();
  const r = await forkViaApi(t, 3, rand('e2e-c'));
  return r.children.map((c) => c.name);
}

test('VM page: identity, serial console, exec, reset', async ({ page }, info) => {
  const [first] = await children();
  await login(page, `/vms/${first}`);
  const detail = page.getByTestId('vm-detail');
  await expect(detail).toHaveAttribute('data-state', 'running');
  const identity = page.getByTestId('vm-identity');
  await expect(identity).toContainText(first); // hostname
  await expect(identity).toContainText(/([0-9a-f]{2}:){5}[0-9a-f]{2}/); // MAC
  await expect(identity).toContainText(/\d+\.\d+\.\d+\.\d+/); // IP
  await expect(identity).toContainText(/[0-9a-f]{32}/); // machine-id
  await expect(page.getByTestId('vm-lineage')).toContainText(first);
  // built-in images have no display device: a sentence says so instead of a screen picture
  await expect(page.getByTestId('no-screen')).toContainText('has no display device');

  // Serial console: type a command; its output (not its echo) comes back through the stream.
  await page.getByTestId('serial-console').click();
  await page.keyboard.type('echo serial-$((6*7))\n');
  await expect(page.getByTestId('serial-text')).toContainText('serial-42', { timeout: 60_000 });

  // Exec through the guest agent.
  await page.getByLabel(/Command to run in the guest/).fill('hostname');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByTestId('exec-result')).toContainText(first);
  await expect(page.getByTestId('exec-result')).toContainText('exit 0');
  await shot(page, info, '03-vm-page');

  // Reset, confirmed in a dialog naming the VM.
  await page.getByRole('button', { name: `Reset ${first}` }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText(`Reset ${first}?`);
  await dialog.getByRole('button', { name: `Reset ${first}` }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'reset done' })).toBeVisible({ timeout: 120_000 });
  await expect(detail).toHaveAttribute('data-state', 'running', { timeout: 60_000 });
  await shot(page, info, '03-vm-after-reset');
});

test('bulk delete from the lineage tree', async ({ page }, info) => {
  const names = await children();
  const doomed = names.slice(1);
  await login(page, '/');
  for (const n of doomed) await page.getByRole('checkbox', { name: `Select ${n}` }).check();
  await expect(page.getByTestId('bulk-bar')).toContainText('2 selected');
  await page.getByRole('button', { name: 'Delete (2)' }).click();
  const dialog = page.getByRole('dialog');
  for (const n of doomed) await expect(dialog).toContainText(n);
  await shot(page, info, '03-bulk-confirm');
  await dialog.getByRole('button', { name: 'Delete 2' }).click();
  await expect(page.getByTestId('bulk-results')).toContainText('2 succeeded, 0 failed', { timeout: 120_000 });
  for (const n of doomed) await expect(page.getByTestId(`node-${n}`)).toHaveCount(0);
  await expect(page.getByTestId(`node-${names[0]}`)).toBeVisible();
  await shot(page, info, '03-bulk-done');
});
