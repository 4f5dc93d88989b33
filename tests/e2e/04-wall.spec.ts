// The wall screen updates, without reload or interaction, when a fork happens elsewhere (the CLI).
import { expect, test } from '@playwright/test';
import { cli, ensureTemplate, login, rand, shot } from './helpers';

test('/wall updates live when the CLI forks', async ({ page }, info) => {
  const template = await ensureTemplate();
  await login(page, '/wall');
  const running = page.getByTestId('wall-running');
  await expect(running).toHaveText(/^\d+$/);
  await expect(page.getByTestId('wall-lineage')).toContainText(template);
  const before = Number(await running.textContent());
  const graph = page.getByTestId('lineage-graph');
  const nodesBefore = Number(await graph.getAttribute('data-nodes'));
  await page.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 7));
  await shot(page, info, '04-wall-before');

  const prefix = rand('e2e-w');
  const { stdout } = await cli(['fork', template, '--count', '2', '--prefix', prefix, '--json']);
  expect(JSON.parse(stdout).children).toHaveLength(2);

  await expect(running).toHaveText(String(before + 2), { timeout: 15_000 });
  // the graphical tree grew by the two children, drawn as running nodes
  await expect(graph).toHaveAttribute('data-nodes', String(nodesBefore + 2), { timeout: 15_000 });
  await expect(graph.locator(`[data-node="${prefix}-1"]`)).toHaveAttribute('data-state', 'running');
  await expect(page.getByTestId('wall-forks')).toContainText(template);
  await expect(page.getByTestId('wall-fpm')).not.toHaveText('0');
  expect(await page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(7);
  await shot(page, info, '04-wall-after');
});
