// Roles in the console and the API: a viewer (token-login session) reads the lineage, states and
// identities but not the guests' output (serial console, screen), every changing action is hidden or
// disabled with a visible reason, and a forged POST from its page gets 403; an operator token opens
// no session (operators log in with a password), forks but cannot manage tokens; a revoked viewer
// token logs nobody in and its sessions end.
import { expect, request, test, type APIRequestContext } from '@playwright/test';
import { api, BASE, ensureTemplate, forkViaApi, login, rand, shot, tokenLogin } from './helpers';

interface Token {
  id: string;
  name: string;
  role: string;
  secret: string;
}

async function createToken(admin: APIRequestContext, role: 'viewer' | 'operator'): Promise<Token> {
  const r = await admin.post('/api/v1/tokens', { data: { name: rand(`e2e-${role}`), role } });
  expect(r.ok(), await r.text()).toBeTruthy();
  const t = (await r.json()) as Token;
  expect(t.secret).toMatch(/^ic_/);
  expect(t.role).toBe(role);
  return t;
}

const bearer = (secret: string) => request.newContext({ baseURL: BASE, extraHTTPHeaders: { authorization: `Bearer ${secret}` }, timeout: 180_000 });

test('viewer reads states but no guest output and changes nothing; operator logs in with a password, forks, cannot manage tokens; revocation', async ({ browser }, info) => {
  const admin = await api();
  const template = await ensureTemplate();
  const prefix = rand('e2e-r');
  const [child] = (await forkViaApi(template, 1, prefix)).children;
  const viewer = await createToken(admin, 'viewer');
  const operator = await createToken(admin, 'operator');
  const cleanup: string[] = [child.id];
  const vctx = await browser.newContext();
  const octx = await browser.newContext();
  try {
    const page = await vctx.newPage();
    // Any keystroke the viewer's page tried to send to a serial console would show up here.
    const serialPosts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes('/serial')) serialPosts.push(r.url());
    });

    // ---- home: the tree and identity are readable; fork, prepare and bulk actions are not offered ----
    await tokenLogin(page, viewer.secret, '/');
    await expect(page.getByTestId('whoami')).toContainText('viewer');
    await expect(page.getByTestId(`node-${template}`)).toBeVisible();
    await expect(page.getByTestId(`node-${child.name}`)).toHaveAttribute('data-state', 'running');
    const main = page.locator('main');
    await expect(main.getByTestId('readonly-reason')).toContainText('need the operator role');
    await expect(page.getByRole('button', { name: `Fork ${template}` })).toHaveCount(0);
    await expect(main.getByRole('link', { name: 'Prepare template' })).toHaveCount(0);
    await page.getByRole('checkbox', { name: `Select ${child.name}` }).check();
    const bulk = page.getByTestId('bulk-bar');
    await expect(bulk).toContainText('1 selected');
    await expect(bulk.getByTestId('bulk-reason')).toContainText('need the operator role');
    for (const b of [/^Stop \(/, /^Reset \(/, /^Delete \(/]) await expect(bulk.getByRole('button', { name: b })).toHaveCount(0);
    await shot(page, info, '06-viewer-home');

    // ---- template page: files, slots and children are readable; fork, resume and delete are not ----
    await page.goto(`/templates/${template}`);
    await expect(page.getByTestId('template-files')).toContainText('device checkpoint');
    await expect(page.getByTestId('template-children')).toContainText(child.name);
    await expect(main.getByTestId('readonly-reason')).toContainText('Forking, resuming as a VM and deleting this template need the operator role');
    for (const name of ['Fork…', 'Resume as VM', 'Delete']) await expect(main.getByRole('button', { name, exact: true })).toHaveCount(0);
    await shot(page, info, '06-viewer-template');

    // ---- VM page: identity readable; power actions, exec and serial typing refused with reasons ----
    await page.goto(`/vms/${child.name}`);
    await expect(page.getByTestId('vm-detail')).toHaveAttribute('data-state', 'running');
    const identity = page.getByTestId('vm-identity');
    await expect(identity).toContainText(child.name);
    await expect(identity).toContainText(/([0-9a-f]{2}:){5}[0-9a-f]{2}/);
    await expect(identity).toContainText(/[0-9a-f]{32}/);
    await expect(page.getByTestId('vm-actions-reason')).toContainText('need the operator role');
    for (const a of ['Start', 'Stop', 'Reset', 'Delete']) await expect(page.getByRole('button', { name: `${a} ${child.name}` })).toHaveCount(0);
    await expect(page.getByLabel(/Command to run in the guest/)).toBeDisabled();
    await expect(page.getByRole('button', { name: 'Run', exact: true })).toBeDisabled();
    await expect(page.getByTestId('exec-reason')).toContainText('needs the operator role');
    // the guest's output is not for viewers: no serial console on the page, and its stream is refused
    await expect(page.getByTestId('serial-hidden')).toContainText('needs the operator role');
    await expect(page.getByTestId('serial-console')).toHaveCount(0);
    expect((await page.request.get(`/api/v1/vms/${child.id}/serial`)).status()).toBe(403);
    expect(serialPosts).toEqual([]);
    await shot(page, info, '06-viewer-vm');

    // ---- /prepare and /demo: the reason instead of a wizard; the demo button disabled ----
    await page.goto('/prepare');
    await expect(main.getByTestId('readonly-reason')).toContainText('Preparing a template needs the operator role');
    await expect(page.getByTestId('prepare-wizard')).toHaveCount(0);
    await page.goto('/demo');
    await expect(page.getByTestId('demo-run')).toBeDisabled();
    await expect(page.getByText('Needs the operator role.')).toBeVisible();

    // ---- a forged POST with the viewer's session: refused with the reason, nothing forked ----
    const forged = await page.request.post(`/api/v1/templates/${template}/fork`, { data: { count: 1, prefix: rand('e2e-forged') }, headers: { origin: BASE } });
    expect(forged.status()).toBe(403);
    expect((await forged.json()).error).toBe(`This needs the operator role; token:${viewer.name} is viewer.`);
    // the same from the page's own scripts (same origin, the session cookie attached by the browser)
    const fromPage = await page.evaluate(async (t) => {
      const r = await fetch(`/api/v1/templates/${t}/fork`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 1 }) });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    }, template);
    expect(fromPage.status).toBe(403);
    expect(fromPage.body.error).toContain('needs the operator role');
    for (const [method, url] of [
      ['POST', `/api/v1/vms/${child.id}/stop`],
      ['DELETE', `/api/v1/vms/${child.id}`],
      ['POST', `/api/v1/vms/${child.id}/serial`],
    ] as const) {
      const r = await page.request.fetch(url, { method, data: { data: 'x' }, headers: { origin: BASE } });
      expect(r.status(), `${method} ${url}`).toBe(403);
    }
    const ls = (await (await admin.get('/api/v1/ls')).json()) as { vms: { name: string; templateId: string | null }[] };
    expect(ls.vms.filter((v) => v.name.startsWith('e2e-forged'))).toHaveLength(0);

    // ---- operator: forks (API and the Fork… button is offered), but tokens are admin-only ----
    const opPage = await octx.newPage();
    // an operator token opens no browser session (a leaked kiosk link could change things)
    const opToken = await opPage.request.post('/api/auth/token-login', { data: { token: operator.secret }, headers: { origin: BASE } });
    expect(opToken.status()).toBe(403);
    expect((await opToken.json()).error).toContain('Only a viewer token opens a console session');
    await login(opPage, '/', 'operator');
    await expect(opPage.getByTestId('whoami')).toContainText('operator');
    await expect(opPage.getByRole('button', { name: `Fork ${template}` })).toBeEnabled();
    await expect(opPage.locator('main').getByTestId('readonly-reason')).toHaveCount(0);
    const op = await bearer(operator.secret);
    const f = await op.post(`/api/v1/templates/${template}/fork`, { data: { count: 1, prefix: rand('e2e-op') } });
    expect(f.ok(), await f.text()).toBeTruthy();
    const opChild = ((await f.json()) as { children: { id: string; name: string }[] }).children[0];
    cleanup.push(opChild.id);
    await expect(opPage.getByTestId(`node-${opChild.name}`)).toBeVisible();
    for (const r of [await op.get('/api/v1/tokens'), await op.post('/api/v1/tokens', { data: { name: 'sneaky', role: 'admin' } }), await op.delete(`/api/v1/tokens/${viewer.id}`)]) {
      expect(r.status()).toBe(403);
      expect((await r.json()).error).toBe(`This needs the admin role; token:${operator.name} is operator.`);
    }
    // the operator's own session cannot manage tokens either
    const opSession = await opPage.request.get('/api/v1/tokens');
    expect(opSession.status()).toBe(403);

    // ---- revocation: the token logs nobody in any more, and the session made from it ends ----
    const rv = await admin.delete(`/api/v1/tokens/${viewer.id}`);
    expect(rv.ok(), await rv.text()).toBeTruthy();
    const anon = await request.newContext({ baseURL: BASE });
    const again = await anon.post('/api/auth/token-login', { data: { token: viewer.secret }, headers: { origin: BASE } });
    expect(again.status()).toBe(401);
    expect((await again.json()).error).toContain('unknown or revoked');
    const vb = await bearer(viewer.secret);
    expect((await vb.get('/api/v1/ls')).status()).toBe(401);
    expect((await page.request.get('/api/v1/me')).status()).toBe(401);
    // the open page may already be on its way to /login (its own requests got 401): that aborts this goto
    await page.goto('/').catch((e: Error) => {
      if (!/ERR_ABORTED|interrupted by another navigation/.test(e.message)) throw e;
    });
    await expect(page).toHaveURL(/\/login/);
    const listed = ((await (await admin.get('/api/v1/tokens')).json()) as { tokens: { id: string; revokedAt: string | null }[] }).tokens.find((t) => t.id === viewer.id);
    expect(listed?.revokedAt).toBeTruthy();
    await Promise.all([anon.dispose(), vb.dispose(), op.dispose()]);
  } finally {
    await Promise.allSettled(cleanup.map((id) => admin.delete(`/api/v1/vms/${id}?force=1`)));
    await admin.delete(`/api/v1/tokens/${operator.id}`).catch(() => undefined);
    await admin.delete(`/api/v1/tokens/${viewer.id}`).catch(() => undefined);
    await vctx.close();
    await octx.close();
  }
});
