// /performance: the key figures and charts of bench/results/latest.json. /demo: one button prepares a
// tiny parent when there is none, forks children, and charts instant clone vs the cold boot measured in
// that run; the children and the demo template are removed afterwards.
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { api, login, shot } from './helpers';

const DEMO_COUNT = 4; // the page defaults to 20; fewer keeps the run short under TCG on a shared host

test('/performance shows the benchmark key figures and charts', async ({ page }, info) => {
  const bench = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'bench/results/latest.json'), 'utf8')) as {
    metrics: Record<string, { median?: number; value?: number }>;
    targets?: { id: string }[];
  };
  const m = (k: string) => bench.metrics[k]?.median ?? bench.metrics[k]?.value;
  const cold = m('coldBoot.readyMs')!;
  const fork = m('fork1.prelaunched.readyMs') ?? m('fork1.fresh.readyMs')!;
  const ratio = m('fork1.speedup');
  expect(cold).toBeGreaterThan(0);
  expect(fork).toBeGreaterThan(0);

  await login(page, '/performance');
  const fig = (id: string) => page.getByTestId(id);
  await expect(fig('bench-cold-boot')).toHaveAttribute('data-value', String(cold));
  await expect(fig('bench-cold-boot')).toContainText(/\d+(\.\d+)? (ms|s)/);
  await expect(fig('bench-fork')).toHaveAttribute('data-value', String(fork));
  await expect(fig('bench-fork')).toContainText(/\d+ ms|\d+\.\d+ s/);
  const shownRatio = Number(await fig('bench-ratio').getAttribute('data-value'));
  if (ratio !== undefined) expect(shownRatio).toBe(ratio);
  else expect(shownRatio).toBeCloseTo(cold / fork, 3);
  await expect(fig('bench-ratio')).toContainText('×');
  // the charts are drawn (bars for the time metrics) with the benchmark's own labels
  const times = page.getByTestId('bench-chart-ms');
  await expect(times.locator('.recharts-bar-rectangle').first()).toBeVisible();
  await expect(times).toContainText('Cold boot to agent-ready');
  if (bench.targets?.length) await expect(page.getByTestId('bench-targets').locator('tbody tr')).toHaveCount(bench.targets.length);
  await shot(page, info, '07-performance');
});

test('/demo: one button prepares a parent if none, forks, charts clone vs cold boot', async ({ page }, info) => {
  test.setTimeout(480_000);
  const admin = await api();
  const before = (await (await admin.get('/api/v1/ls')).json()) as { templates: { name: string }[] };
  const hadDemo = before.templates.some((t) => t.name.startsWith('demo-'));
  let demoTemplate: string | undefined;
  try {
    await login(page, '/demo');
    await page.getByLabel('Children').fill(String(DEMO_COUNT));
    await expect(page.getByTestId('demo-run')).toHaveText(`Fork ${DEMO_COUNT} children`);
    await page.getByTestId('demo-run').click();
    if (!hadDemo) await expect(page.getByTestId('demo-run')).toHaveText('Preparing the parent…');
    // the page is not empty while the parent boots: its serial console streams live
    if (!hadDemo) await expect(page.getByTestId('demo-parent').getByTestId('serial-text')).toContainText(/Linux|instaclone|agent/i, { timeout: 120_000 });
    const chart = page.getByTestId('demo-chart');
    await expect(chart).toBeVisible({ timeout: 420_000 });
    await expect(page.getByTestId('demo-identity')).toContainText('Every child has its own hostname, MAC, IP, machine-id and vmgenid.');

    // The figures come from this run: the template's prepare (cold boot) and the fork just made.
    const link = page.getByRole('link', { name: /^Open demo-/ });
    demoTemplate = (await link.textContent())!.replace(/^Open /, '').trim();
    const tpl = (await (await admin.get(`/api/v1/templates/${demoTemplate}`)).json()) as { timings: { bootMs?: number } };
    const cold = Number(await page.getByTestId('demo-cold-boot').getAttribute('data-value'));
    const avg = Number(await page.getByTestId('demo-clone-avg').getAttribute('data-value'));
    const total = Number(await page.getByTestId('demo-total').getAttribute('data-value'));
    expect(cold).toBe(tpl.timings.bootMs);
    if (!hadDemo) await expect(chart).toContainText('cold boot measured in this run');
    expect(avg).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(0);
    expect(avg).toBeLessThan(cold); // the point of the demo
    await expect(page.getByTestId('demo-ratio')).toContainText('× faster than booting');
    // one unit on the page, the spread per child, and what was measured
    await expect(page.getByTestId('demo-cold-boot')).toContainText(/\d ms$/);
    await expect(page.getByTestId('demo-distribution')).toContainText('median');
    await expect(page.getByTestId('demo-measured')).toContainText('Measured in this run');
    await expect(page.getByTestId('demo-total')).toContainText(`All ${DEMO_COUNT} children`);
    // one bar for the cold boot, one per child
    await expect(chart.locator('.recharts-bar-rectangle')).toHaveCount(DEMO_COUNT + 1);
    const ls = (await (await admin.get('/api/v1/ls')).json()) as { vms: { name: string; state: string }[] };
    const kids = ls.vms.filter((v) => v.name.startsWith(`${demoTemplate}-d`));
    expect(kids).toHaveLength(DEMO_COUNT);
    for (const k of kids) expect(k.state).toBe('running');
    await shot(page, info, '07-demo');

    // The page's own clean-up button, then the template through the API.
    await page.getByRole('button', { name: `Delete the ${DEMO_COUNT} demo children` }).click();
    await expect(page.getByText(`deleted ${DEMO_COUNT} of ${DEMO_COUNT} demo children`)).toBeVisible({ timeout: 120_000 });
  } finally {
    const ls = (await (await admin.get('/api/v1/ls')).json()) as { templates: { id: string; name: string }[]; vms: { id: string; name: string }[] };
    const mine = (n: string) => !hadDemo && n.startsWith('demo-');
    await Promise.allSettled(ls.vms.filter((v) => mine(v.name) || (demoTemplate && v.name.startsWith(`${demoTemplate}-d`))).map((v) => admin.delete(`/api/v1/vms/${v.id}?force=1`)));
    for (const t of ls.templates.filter((t) => mine(t.name))) {
      const r = await admin.delete(`/api/v1/templates/${t.id}?force=1`);
      expect(r.ok(), await r.text()).toBeTruthy();
    }
    const after = (await (await admin.get('/api/v1/ls')).json()) as { templates: { name: string }[]; vms: { name: string }[] };
    if (!hadDemo) expect(after.templates.filter((t) => t.name.startsWith('demo-'))).toHaveLength(0);
    expect(after.vms.filter((v) => v.name.startsWith('demo-'))).toHaveLength(0);
    await admin.dispose();
  }
});
