// The prepare wizard end to end, keyboard only: image and size → warm-up → quiesce → slots → review →
// the run (steps driven by the task's live events) → done with timings and the warm-up output.
import { expect, test } from '@playwright/test';
import { login, rand, shot, writeState } from './helpers';

test('home shows host health and the lineage', async ({ page }, info) => {
  await login(page, '/');
  await expect(page.getByTestId('health')).toContainText('QEMU');
  await expect(page.getByTestId('health-kvm')).toContainText(/KVM|TCG/);
  await expect(page.getByTestId('whoami')).toContainText('admin');
  await expect(page.getByTestId('live')).toContainText('on');
  await shot(page, info, '01-home-empty');
});

test('prepare wizard, keyboard only', async ({ page }, info) => {
  const name = rand('e2e-web');
  await login(page, '/prepare');
  const wizard = page.getByTestId('prepare-wizard');
  await expect(wizard).toBeVisible();

  // Step 1: the name field has focus; every input is labelled.
  await expect(page.getByLabel('Template name')).toHaveValue(/^web-/); // hydrated: the default name is chosen in the browser
  await expect(page.getByLabel('Template name')).toBeFocused();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(name);
  for (const label of ['Image', 'Memory (MiB)', 'vCPUs']) await expect(page.getByLabel(label)).toBeVisible();
  // A wrong value is refused with the shared schema's message, then fixed.
  await page.getByLabel('Memory (MiB)').focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('12');
  await page.keyboard.press('Enter');
  await expect(page.locator('#memory-error')).toHaveText('Memory (MiB) must be at least 64.');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('256');
  await page.keyboard.press('Enter');

  // Step 2: warm-up commands.
  await expect(page.getByRole('heading', { name: /Warm-up/ })).toBeFocused();
  await expect(page.getByLabel('Warm-up command 1', { exact: true })).toHaveValue(/httpd/);
  await page.getByLabel('Warm-up command 1', { exact: true }).focus();
  await page.keyboard.press('Enter');

  // Step 3: quiesce, explained; this template stays unquiesced (the persistence toggle test uses it).
  await expect(page.getByText(/required for persistent children/)).toBeVisible();
  const quiesce = page.getByLabel(/Quiesce before the freeze/);
  await quiesce.focus();
  await page.keyboard.press('Space');
  await expect(quiesce).not.toBeChecked();
  await page.keyboard.press('Tab'); // Back
  await page.keyboard.press('Tab'); // Next
  await page.keyboard.press('Enter');

  // Step 4: slots.
  await page.getByLabel('Slots to pre-register').focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('2');
  await page.keyboard.press('Enter');

  // Step 5: review, then prepare.
  await expect(page.getByTestId('prepare-review')).toContainText(name);
  await shot(page, info, '01-wizard-review');
  await page.getByRole('button', { name: 'Prepare template' }).focus();
  await page.keyboard.press('Enter');

  const runView = page.getByTestId('prepare-run');
  await expect(runView).toBeVisible();
  await expect(page.getByTestId('phase-boot')).toBeVisible();
  // The action answered the operation's id at once; the page follows that id, kept in the address.
  await expect(page).toHaveURL(/\/prepare\?operation=task_\w+$/);
  const opId = new URL(page.url()).searchParams.get('operation')!;
  await expect(runView).toHaveAttribute('data-operation', opId);
  // While booting, the parent's serial console streams (the kernel/init output).
  await expect(page.getByTestId('serial-text')).toContainText(/instaclone|Linux|agent/i, { timeout: 120_000 });
  await shot(page, info, '01-wizard-running');
  // A reload mid-way finds the same run by its id alone (no name or start time to guess from).
  await page.reload();
  await expect(runView).toHaveAttribute('data-operation', opId);
  await expect(runView.getByRole('heading', { level: 1 })).toContainText(name);

  await expect(page.getByTestId('prepare-done')).toBeVisible({ timeout: 180_000 });
  for (const p of ['boot', 'warmup', 'freeze', 'slots']) await expect(page.getByTestId(`phase-${p}`)).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('prepare-done')).toContainText('boot');
  await expect(page.getByTestId('warmup-results')).toContainText('httpd started on port 8080');
  // the success screen shows the files' real sizes (it said "ram 0 B · state 0 B · disk 0 B")
  const files = page.getByTestId('prepare-files');
  await expect(files).toContainText('RAM file');
  await expect(files).toContainText('256 MiB');
  await expect(files).not.toContainText(/\b0 B\b/);
  await shot(page, info, '01-wizard-done');
  writeState({ template: name });

  // The template page shows files with sizes, not quiesced, slots.
  await page.getByRole('link', { name: `Open template ${name}` }).click();
  await expect(page.getByTestId('template-detail')).toContainText('not quiesced');
  await expect(page.getByTestId('template-files')).toContainText('device checkpoint');
  await expect(page.getByTestId('template-files')).toContainText(/MiB|KiB/);
  await expect(page.getByTestId('template-slots')).toContainText('2');
  await shot(page, info, '01-template-page');
});
