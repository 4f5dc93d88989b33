// Issue 15 (the console, round 2): each rough edge found in a browser gets its own check here.
// Forwarded ports are proven by connecting to the ports the VM page shows, after a fork from a
// prelaunched slot, a fork that overrides the template's ports, and a reset.
import { expect, test, type Page } from '@playwright/test';
import { api, cli, login, rand, readState, shot, writeState } from './helpers';

// kept in the run's state file: after a failed test Playwright starts a new worker (module state lost)
let TPL = readState().portsTemplate ?? rand('e2e-pt');

/** A running child of TPL (the ports test made one). */
async function runningChild(): Promise<string> {
  const ls = await (await (await api()).get('/api/v1/ls')).json();
  const t = ls.templates.find((x: { name: string }) => x.name === TPL);
  const v = ls.vms.find((x: { templateId: string; state: string }) => x.templateId === t?.id && x.state === 'running');
  if (v) return v.name;
  const f = await (await api()).post(`/api/v1/templates/${TPL}/fork`, { data: { count: 1, prefix: rand('e2e-x') } });
  return (await f.json()).children[0].name;
}

/** The host ports the VM page lists, by guest port. */
async function shownPorts(page: Page): Promise<Record<string, number>> {
  const items = await page.getByTestId('vm-ports').locator('li').allTextContents();
  const out: Record<string, number> = {};
  for (const t of items) {
    const m = /guest (\d+).*?(?::|-p )(\d+)/.exec(t);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** GET over a forwarded port: the tiny guest's page names its hostname. */
async function pageOver(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
  return res.text();
}

/** Console errors and uncaught page errors (hydration failures land here). */
function collectErrors(page: Page): string[] {
  const errs: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errs.push(m.text());
  });
  page.on('pageerror', (e) => errs.push(e.message));
  return errs;
}

test.beforeAll(async () => {
  const a = await api();
  if (readState().portsTemplate && (await a.get(`/api/v1/templates/${TPL}`)).ok()) return;
  TPL = rand('e2e-pt');
  writeState({ portsTemplate: TPL });
  // the wizard's own example: a web server on 8080, forwarded with 80; quiesced for the toggle check
  const r = await a.post('/api/v1/templates', { data: { image: 'tiny', name: TPL, warmup: ['httpd -p 8080 -h /www'], ports: [80, 8080], slots: 2, prelaunch: true, quiesce: true } });
  expect(r.ok(), await r.text()).toBeTruthy();
});

test('ports shown for a child from a prelaunched slot are the ones QEMU forwards, also after a reset', async ({ page }, info) => {
  const a = await api();
  const f = await a.post(`/api/v1/templates/${TPL}/fork`, { data: { count: 1, prefix: rand('e2e-p') } });
  expect(f.ok(), await f.text()).toBeTruthy();
  const child = (await f.json()).children[0].name;
  await login(page, `/vms/${child}`);
  await expect(page.getByTestId('vm-detail')).toHaveAttribute('data-state', 'running');
  await expect(page.getByTestId('vm-ports')).toContainText('guest 8080');
  const ports = await shownPorts(page);
  expect(Object.keys(ports).sort()).toEqual(['80', '8080']);
  for (const hp of Object.values(ports)) expect(await pageOver(hp)).toContain(`hostname: ${child}\n`);
  // `ls --json` says the same
  const ls = JSON.parse((await cli(['ls', '--json'])).stdout);
  expect(ls.vms.find((v: { name: string }) => v.name === child).ports).toEqual(Object.fromEntries(Object.entries(ports).map(([g, h]) => [g, h])));
  await shot(page, info, '08-vm-ports');

  // after a reset the page shows the ports QEMU forwards now (they answer), without a reload
  await page.getByRole('button', { name: `Reset ${child}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: `Reset ${child}` }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'reset done' })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('vm-detail')).toHaveAttribute('data-state', 'running', { timeout: 60_000 });
  const after = await shownPorts(page);
  expect(Object.keys(after).sort()).toEqual(['80', '8080']);
  for (const hp of Object.values(after)) expect(await pageOver(hp)).toContain(`hostname: ${child}\n`);
});

test('the CLI can override the forwarded guest ports per fork (--port, repeatable)', async () => {
  const prefix = rand('e2e-q');
  const { stdout } = await cli(['fork', TPL, '--count', '1', '--prefix', prefix, '--port', '8080', '--json']);
  const name = JSON.parse(stdout).children[0].name;
  const ls = JSON.parse((await cli(['ls', '--json'])).stdout);
  const ports = ls.vms.find((v: { name: string }) => v.name === name).ports;
  expect(Object.keys(ports)).toEqual(['8080']);
  expect(await pageOver(ports['8080'])).toContain(`hostname: ${name}\n`);
  const bad = await cli(['fork', TPL, '--count', '1', '--port', '80', '--port', '80']).then(
    () => null,
    (e: { stderr: string }) => e.stderr,
  );
  expect(bad?.trim()).toMatch(/^[^\n]*only once[^\n]*$/);
});

test('fork dialog: count checked as typed with the range stated, persistence explained, focus back to Fork…', async ({ page }, info) => {
  await login(page, `/templates/${TPL}`);
  const opener = page.getByRole('button', { name: 'Fork…' });
  await opener.click();
  const dialog = page.getByRole('dialog');
  const count = dialog.getByLabel(/Number of children \(1–500\)/);
  await count.fill('1000');
  await expect(dialog.getByTestId('fork-count-error')).toHaveText('The child count must be at most 500.');
  const submit = dialog.getByRole('button', { name: /^Fork/ });
  await expect(submit).toHaveText('Fork');
  await expect(submit).toBeDisabled();
  await count.fill('-3');
  await expect(dialog.getByTestId('fork-count-error')).toHaveText('The child count must be at least 1.');
  await count.fill('1');
  await expect(dialog.getByTestId('fork-count-error')).toHaveCount(0);
  await expect(submit).toHaveText('Fork 1 child');
  const help = dialog.getByTestId('persistent-reason');
  await expect(help).toContainText('Off:');
  await dialog.getByLabel(/Persistent children/).check();
  await expect(help).toContainText('On:');
  await expect(dialog.getByLabel('Forwarded guest ports')).toHaveValue('80, 8080');
  await shot(page, info, '08-fork-dialog');
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(opener).toBeFocused();
});

test('wizard: a taken name is refused at step 1, as it is typed', async ({ page }) => {
  await login(page, '/prepare');
  await expect(page.getByLabel('Template name')).toHaveValue(/^web-/); // hydrated
  await page.getByLabel('Template name').fill(TPL);
  await expect(page.getByTestId('name-taken')).toHaveText(`The name "${TPL}" is already used by a template or VM; choose another name.`);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: /Image and size/ })).toBeVisible();
  await page.getByLabel('Template name').fill(rand('e2e-free'));
  await expect(page.getByTestId('name-taken')).toHaveCount(0);
});

test('exec: a missing program is one sentence, and the previous output is cleared', async ({ page }) => {
  const child = await runningChild();
  await login(page, `/vms/${child}`);
  const cmd = page.getByLabel(/Command to run in the guest/);
  await cmd.fill('hostname');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByTestId('exec-result')).toContainText(child);
  // the console runs it through a server action, the CLI through REST: the same service, the same sentence
  const sentence = /The guest could not start "nosuchprog" \(no such file or directory\): [^\n]*\./;
  await cmd.fill('nosuchprog --now');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'nosuchprog' })).toHaveText(new RegExp(`^[^\\n]*${sentence.source}$`));
  await expect(page.getByTestId('exec-result')).toHaveCount(0);
  const refused = await cli(['exec', child, '--', 'nosuchprog', '--now']).then(() => null, (e) => e as { code: number; stderr: string });
  expect(refused?.stderr.trim()).toMatch(new RegExp(`^instaclone: ${sentence.source}$`));
});

test('no hydration or console errors on /demo and /wall; wall bars equal their labels', async ({ page }) => {
  const errs = collectErrors(page);
  await login(page, '/demo');
  await expect(page.getByRole('heading', { name: /Demo/ })).toBeVisible();
  await page.waitForTimeout(1500);
  await page.goto('/wall');
  const bar = page.getByTestId(`wall-bar-${TPL}`);
  await expect(bar).toBeVisible();
  await page.waitForTimeout(1500);
  expect(errs).toEqual([]);
  const now = Number(await bar.getAttribute('aria-valuenow'));
  const max = Number(await bar.getAttribute('aria-valuemax'));
  expect(Number(await bar.getAttribute('data-fraction'))).toBeCloseTo(now / max, 5);
  // the drawn width is that fraction of the track
  const track = await bar.boundingBox();
  const fill = await bar.locator('div').first().boundingBox();
  expect(Math.abs((fill?.width ?? 0) / (track?.width ?? 1) - now / max)).toBeLessThan(0.02);
});
