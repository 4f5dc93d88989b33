// The wall screen (opened as a kiosk does: a viewer token in /token-login's fragment) updates, without
// reload or interaction, when a fork happens elsewhere (the CLI).
import { expect, test } from '@playwright/test';
import { api, cli, ensureTemplate, rand, shot, tokenLogin } from './helpers';

test('/wall updates live when the CLI forks', async ({ page }, info) => {
  const template = await ensureTemplate();
  const admin = await api();
  const kiosk = (await (await admin.post('/api/v1/tokens', { data: { name: rand('e2e-kiosk'), role: 'viewer' } })).json()) as { id: string; secret: string };
  await tokenLogin(page, kiosk.secret, '/wall');
  expect(page.url()).not.toContain(kiosk.secret); // the fragment is wiped before the POST
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
  await admin.delete(`/api/v1/tokens/${kiosk.id}`);
  await admin.dispose();
});
