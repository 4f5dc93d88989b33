// Fork of 3 non-persistent children from the fork dialog; the persistence toggle is disabled with its
// reason on this unquiesced template; a second window's tree shows the children live, without reload.
import { expect, test } from '@playwright/test';
import { ensureTemplate, login, rand, shot, writeState } from './helpers';

test('fork 3 children; the tree updates live; toggle disabled on an unquiesced template', async ({ page, context }, info) => {
  const template = await ensureTemplate();
  const prefix = rand('e2e-c');

  // An observer window on the home page: it must see the children appear without a reload.
  const observer = await context.newPage();
  await login(observer, '/');
  await expect(observer.getByTestId(`node-${template}`)).toBeVisible();
  await observer.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 42));

  await login(page, '/');
  await page.getByRole('button', { name: `Fork ${template}` }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();

  // The persistence toggle: off, disabled, and the reason says why.
  const toggle = dialog.getByLabel(/Persistent children/);
  await expect(toggle).toBeDisabled();
  await expect(toggle).not.toBeChecked();
  await expect(dialog.getByTestId('persistent-reason')).toContainText('quiesced');
  await shot(page, info, '02-fork-dialog');

  // Keyboard: the count has focus.
  await expect(dialog.getByLabel('Number of children')).toBeFocused();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('3');
  await page.keyboard.press('Tab');
  await page.keyboard.type(prefix);
  await page.keyboard.press('Enter');

  await expect(dialog.getByTestId('fork-result')).toBeVisible({ timeout: 120_000 });
  await expect(dialog.getByTestId('identity-check')).toContainText('all 3 children have distinct');
  await expect(dialog.getByTestId('fork-result')).toContainText('Cold boot');
  await shot(page, info, '02-fork-result');
  await dialog.getByRole('button', { name: 'Done' }).click();

  for (const n of [1, 2, 3]) {
    await expect(observer.getByTestId(`node-${prefix}-${n}`)).toHaveAttribute('data-state', 'running');
  }
  expect(await observer.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(42);
  await shot(observer, info, '02-tree-live');
  writeState({ children: [1, 2, 3].map((n) => `${prefix}-${n}`) });
  await observer.close();
});
