// The Pools page (create, claim, release, push) and the wall's pool gauges updating live, with the
// CLI's `pool claim --json` contract checked on the same pool.
import { expect, test } from '@playwright/test';
import { api, cli, ensureTemplate, login, rand, shot } from './helpers';

test('Pools page: create, claim, release, push; the wall follows live', async ({ page, browser }, info) => {
  test.setTimeout(300_000);
  const template = await ensureTemplate();
  const a = await api();
  const t2 = rand('e2e-pt');
  const prep = await a.post('/api/v1/templates', { data: { image: 'tiny', name: t2, slots: 0, warmup: ['echo two > /tmp/gen'] } });
  expect(prep.ok(), await prep.text()).toBeTruthy();
  const name = rand('e2e-pool');

  await login(page, '/pools');
  await page.getByTestId('pool-name').fill(name);
  await page.getByTestId('pool-template').selectOption(template);
  await page.getByTestId('pool-size').fill('3');
  await page.getByTestId('pool-spares').fill('2');
  await page.getByTestId('pool-create').click();
  const card = page.getByTestId(`pool-${name}`);
  await expect(card.getByTestId('pool-ready')).toHaveText('2', { timeout: 120_000 });
  await expect(card.getByTestId('pool-refilling')).toHaveText('0', { timeout: 60_000 });

  // the wall, in a second browser context (its own SSE stream), never reloaded
  const wallCtx = await browser.newContext();
  const wall = await wallCtx.newPage();
  await login(wall, '/wall');
  const gauge = wall.getByTestId(`wall-pool-${name}`);
  await expect(gauge.getByTestId('wall-pool-spares')).toHaveText('2');
  await expect(gauge.getByTestId('wall-pool-claimed')).toHaveText('0');
  await expect(wall.getByTestId('wall-claims')).toHaveText('0');
  await wall.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 7));

  // claim from the page: the wall's gauge and counter move without a reload
  await card.getByTestId('pool-claim').click();
  await expect(card.getByTestId('pool-claimed')).toHaveText('1');
  await expect(gauge.getByTestId('wall-pool-claimed')).toHaveText('1', { timeout: 15_000 });
  await expect(wall.getByTestId('wall-claims')).toHaveText('1', { timeout: 15_000 });
  await shot(wall, info, '08-wall-pools');

  // the CLI contract on the same pool
  const { stdout } = await cli(['pool', 'claim', name, '--label', 'cli', '--wait', '60', '--json']);
  const c = JSON.parse(stdout);
  expect(Object.keys(c).sort()).toEqual(expect.arrayContaining(['claimMs', 'source', 'vm']));
  expect(Object.keys(c.vm).sort()).toEqual(expect.arrayContaining(['id', 'identity', 'name', 'ports']));
  expect(['spare', 'forked']).toContain(c.source);
  await expect(wall.getByTestId('wall-claims')).toHaveText('2', { timeout: 15_000 });
  await expect(card.getByTestId('pool-claimed')).toHaveText('2');
  await expect(card.getByTestId('pool-members')).toContainText('(cli)');

  // release both from the page: back to spares (reset)
  for (const b of await card.getByRole('button', { name: /^Release / }).all()) await b.click();
  await expect(card.getByTestId('pool-claimed')).toHaveText('0', { timeout: 60_000 });
  await expect(gauge.getByTestId('wall-pool-claimed')).toHaveText('0', { timeout: 15_000 });

  // push: the spares roll to the new template
  await page.reload();
  await card.getByTestId('pool-push-template').selectOption(t2);
  await card.getByTestId('pool-push-button').click();
  // the push is an operation: the tab-wide watcher toasts its end
  await expect(page.getByTestId('toast').filter({ hasText: `pushed to template ${t2}` })).toBeVisible({ timeout: 120_000 });
  await expect(card.getByTestId('pool-template-now')).toHaveText(t2);
  await expect(card.getByTestId('pool-members')).not.toContainText('old template', { timeout: 120_000 });
  await expect(card.getByTestId('pool-ready')).toHaveText('2', { timeout: 120_000 });
  await shot(page, info, '08-pools-page');
  expect(await wall.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(7);

  const rm = await a.delete(`/api/v1/pools/${name}`);
  expect(rm.ok(), await rm.text()).toBeTruthy();
  await a.delete(`/api/v1/templates/${t2}`);
  await wallCtx.close();
});
