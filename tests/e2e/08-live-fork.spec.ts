// Live fork from a VM page: "Fork this VM…" opens the fork dialog in its live form (quiesce offered,
// persistence allowed only with it); the result names the source's pause; a second window's tree
// shows source → template → children live, without reload, and the source still runs. The dialog
// follows its operation: while a live fork runs the dialog can be closed and another server action of
// the same tab (exec) answers before the fork's operation ends; the end still comes as a toast.
import { expect, test } from '@playwright/test';
import { api, cli, ensureTemplate, forkViaApi, login, rand, shot } from './helpers';

test('fork a running VM from its page; the tree shows source → template → children live', async ({ page, context }, info) => {
  const template = await ensureTemplate();
  const src = (await forkViaApi(template, 1, rand('e2e-live'))).children[0].name;

  const observer = await context.newPage();
  await login(observer, '/');
  await expect(observer.getByTestId(`node-${src}`)).toHaveAttribute('data-state', 'running');
  await observer.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 7));

  await login(page, `/vms/${src}`);
  await page.getByRole('button', { name: 'Fork this VM…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText(`Fork ${src} (live)`);
  // persistence needs the quiesce: unticking it disables the toggle with the reason
  const quiesce = dialog.getByLabel(/Quiesce/);
  await expect(quiesce).toBeChecked();
  await quiesce.uncheck();
  await expect(dialog.getByLabel(/Persistent children/)).toBeDisabled();
  await expect(dialog.getByTestId('persistent-reason')).toContainText('need a quiesce');
  await quiesce.check();
  await expect(dialog.getByLabel(/Persistent children/)).toBeEnabled();
  await dialog.getByLabel('Number of children').fill('2');
  await shot(page, info, '08-live-fork-dialog');
  await dialog.getByRole('button', { name: /Fork 2 children/ }).click();

  await expect(dialog.getByTestId('fork-result')).toBeVisible({ timeout: 180_000 });
  await expect(dialog.getByTestId('identity-check')).toContainText('all 2 children have distinct');
  await expect(dialog.getByTestId('live-fork-pause')).toContainText(`${src} was paused`);
  const tplName = `${src}-at-1`;
  await shot(page, info, '08-live-fork-result');
  await dialog.getByRole('button', { name: 'Done' }).click();

  // the observer's tree: source (level L) → template (L+1) → children (L+2), all live
  const level = async (name: string) => Number(await observer.getByTestId(`node-${name}`).getAttribute('aria-level'));
  await expect(observer.getByTestId(`node-${tplName}`)).toHaveAttribute('data-kind', 'template');
  for (const n of [1, 2]) await expect(observer.getByTestId(`node-${src}-${n}`)).toHaveAttribute('data-state', 'running');
  const l = await level(src);
  expect(await level(tplName)).toBe(l + 1);
  expect(await level(`${src}-1`)).toBe(l + 2);
  expect(await level(`${src}-2`)).toBe(l + 2);
  await expect(observer.getByTestId(`node-${src}`)).toHaveAttribute('data-state', 'running');
  expect(await observer.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(7);
  await shot(observer, info, '08-live-fork-tree');
  await observer.close();

  // the CLI: `fork VM` is a live fork; persistent without --quiesce is refused with one sentence
  const refused = await cli(['fork', src, '--count', '1', '--persistent']).then(() => null, (e) => e as { code: number; stderr: string });
  expect(refused?.code).toBe(1);
  expect(refused?.stderr.trim()).toMatch(/^instaclone: A persistent live fork of "[^"]+" needs a quiesced disk: add --quiesce .*\.$/);
  const { stdout } = await cli(['fork', src, '--count', '1', '--json']);
  const r = JSON.parse(stdout) as { children: { name: string }[]; source: { name: string }; template: { name: string; quiesced: boolean }; pause: { pauseMs: number; method: string } };
  expect(r).toMatchObject({ source: { name: src }, template: { name: `${src}-at-2`, quiesced: false }, pause: { method: 'stop-and-copy' } });
  expect(r.pause.pauseMs).toBeGreaterThan(0);
  const ls = JSON.parse((await cli(['ls', '--json'])).stdout) as { templates: { name: string; sourceVmId?: string }[]; vms: { id: string; name: string }[] };
  const srcId = ls.vms.find((v) => v.name === src)!.id;
  expect(ls.templates.filter((t) => t.sourceVmId === srcId).map((t) => t.name).sort()).toEqual([`${src}-at-1`, `${src}-at-2`]);

  // The dialog's action answers at once with its operation and the dialog follows it: closed while the
  // fork runs, the page's next server action (exec) goes out at once instead of waiting behind the fork
  // (Next.js sends a page's actions one at a time), and answers.
  await page.getByLabel(/Command to run in the guest/).fill('hostname'); // typed first: only the click is left for later
  await page.getByRole('button', { name: 'Fork this VM…' }).click();
  await dialog.getByLabel(/Quiesce/).uncheck();
  await dialog.getByLabel('Number of children').fill('3');
  await dialog.getByRole('button', { name: /Fork 3 children/ }).click();
  const progress = dialog.getByTestId('fork-progress');
  await expect(progress).toHaveAttribute('data-operation', /^task_/);
  const opId = (await progress.getAttribute('data-operation'))!;
  await dialog.getByText('Close', { exact: true }).click(); // the footer's button (the × is labelled Close too)
  await expect(dialog).toBeHidden();
  // the end is not lost with the dialog: the tab-wide watcher toasts what was made, once
  const endToast = page.getByTestId('toast').filter({ hasText: new RegExp(`3 children of ${src}-at-\\d+ ready`) });
  const toasted = endToast.first().waitFor({ timeout: 180_000 }).then(() => true, () => false);
  // the browser sends the exec's server action now, not after the fork's (it would wait in Next's queue)
  const sent = page.waitForRequest((r) => r.method() === 'POST' && !!r.headers()['next-action']);
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await sent;
  const execSent = Date.now();
  await expect(page.getByTestId('exec-result')).toContainText(src, { timeout: 60_000 });
  const a = await api();
  let op: { state: string; endedAt?: string; result?: { children: { name: string }[] }; error?: string } = { state: 'running' };
  await expect(async () => {
    op = await (await a.get(`/api/v1/operations/${opId}`)).json();
    expect(op.state).not.toBe('running');
  }).toPass({ timeout: 180_000 });
  expect(op.state, op.error).toBe('succeeded');
  expect(Date.parse(op.endedAt!)).toBeGreaterThan(execSent); // the exec's action went out while the fork still ran
  expect(await toasted, 'the end toast of the fork whose dialog was closed').toBe(true); // closed before the end: endedAt > execSent > close
  expect(await endToast.count()).toBe(1);
  for (const c of op.result!.children) expect((await a.delete(`/api/v1/vms/${c.name}?force=1`)).ok()).toBeTruthy();
});
