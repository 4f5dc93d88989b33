// Many hosts, single-host console (SQLite, no agents): the Hosts page, REST and CLI show this
// console's own host; drain is refused with its sentence; the VM page, the lineage tree and the wall
// name each VM's host.
// (Agents on PostgreSQL are covered by tests/engine/hosts.test.ts.)
import { execFile } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { adminToken, api, BASE, ensureTemplate, forkViaApi, HOME, login, rand, shot, tokenLogin } from './helpers';
import { bytes } from '../../lib/client/format';

const UNIT: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };
/** "3.1 GiB / 23.4 GiB" (or the wall's "3.1 / 23.4 GiB") as shown: the use in bytes, once the total is the API's (formatted the same way). */
function shownUse(text: string | null, totalBytes: number): number {
  const total = bytes(totalBytes);
  const m = new RegExp(`^([\\d.]+)(?: (B|KiB|MiB|GiB|TiB))? / ${total.replace('.', '\\.')}( RAM)?$`).exec((text ?? '').trim());
  expect(m, `"${text}" is "USE / ${total}"`).toBeTruthy();
  return Number(m![1]) * UNIT[m![2] ?? total.split(' ')[1]];
}
/** The use moves between two reads (other tests run guests): the page must show the API's figure, not another one. */
const near = (shown: number, api: number) => expect(Math.abs(shown - api) / api, `${shown} vs ${api}`).toBeLessThan(0.25);

test('the Hosts page, GET /api/v1/hosts and `instaclone hosts --json` show the local host', async ({ page }, info) => {
  const a = await api();
  const r = await a.get('/api/v1/hosts');
  expect(r.status()).toBe(200);
  const { hosts } = await r.json();
  expect(hosts).toHaveLength(1);
  const h = hosts[0];
  expect(h).toMatchObject({ state: 'ready', local: true });
  for (const k of ['name', 'state', 'cores', 'memoryBytes', 'memoryUsedBytes', 'qemuPssBytes', 'qemuVersion', 'templates', 'vms', 'lastSeen']) expect(h, k).toHaveProperty(k);
  expect(h.memoryUsedBytes).toBeGreaterThan(0);
  expect(h.memoryUsedBytes).toBeLessThanOrEqual(h.memoryBytes);
  const drain = await a.post(`/api/v1/hosts/${h.name}/drain`);
  expect(drain.status()).toBe(409);
  expect((await drain.json()).error).toMatch(/no agents to drain/);
  const ls = await (await a.get('/api/v1/ls')).json();
  for (const v of ls.vms) expect(v.host).toBe(h.name);

  const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(path.join(process.cwd(), 'bin/instaclone'), ['hosts', '--json'], { env: { ...process.env, INSTACLONE_URL: BASE, INSTACLONE_TOKEN: adminToken(), INSTACLONE_HOME: HOME }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    ),
  );
  expect(cli.code, cli.stderr).toBe(0);
  expect(JSON.parse(cli.stdout).hosts[0]).toMatchObject({ name: h.name, memoryBytes: h.memoryBytes });
  expect(JSON.parse(cli.stdout).hosts[0].memoryUsedBytes).toBeGreaterThan(0);

  await login(page, '/hosts');
  const row = page.getByTestId(`host-${h.name}`);
  await expect(row).toBeVisible();
  await expect(row).toContainText('ready');
  await expect(row).toContainText('(this console)');
  await expect(row.getByTestId('host-vms')).toHaveText(String(h.vms));
  // memory in use of the total, as the API gives it
  const used = shownUse(await row.getByTestId('host-memory').textContent(), h.memoryBytes);
  near(used, (await (await a.get('/api/v1/hosts')).json()).hosts[0].memoryUsedBytes);
  await expect(row.getByRole('button', { name: /drain/i })).toHaveCount(0); // nothing to drain on a single host
  await shot(page, info, 'hosts-page');
});

test("the lineage tree names each VM's host and the wall has a Hosts panel", async ({ page }, info) => {
  test.setTimeout(300_000);
  const a = await api();
  const host = (await (await a.get('/api/v1/hosts')).json()).hosts[0].name as string;
  let vm = ((await (await a.get('/api/v1/ls')).json()).vms as { name: string; kind: string }[]).find((v) => v.kind === 'child')?.name;
  vm ??= (await forkViaApi(await ensureTemplate(), 1, rand('e2e-host'))).children[0].name; // when run alone

  await login(page, '/');
  await page.getByRole('searchbox').fill(vm);
  const label = page.getByTestId(`node-${vm}`).getByTestId('node-host');
  await expect(label).toHaveText(host);
  await expect(label).toHaveAttribute('title', `host ${host}`);
  await shot(page, info, 'tree-host');

  // the wall as a kiosk opens it: a viewer token (the same path 04-wall uses)
  const t = await a.post('/api/v1/tokens', { data: { name: rand('e2e-wall'), role: 'viewer' } });
  expect(t.ok(), await t.text()).toBeTruthy();
  const kiosk = (await t.json()) as { id: string; secret: string };
  await tokenLogin(page, kiosk.secret, '/wall');
  const row = page.getByTestId(`wall-host-${host}`);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('wall-host-state')).toHaveText('ready');
  const n = (await (await a.get('/api/v1/hosts')).json()).hosts[0].vms as number;
  await expect(row.getByTestId('wall-host-vms')).toHaveText(String(n));
  const hv = (await (await a.get('/api/v1/hosts')).json()).hosts[0];
  near(shownUse(await row.getByTestId('wall-host-memory').textContent(), hv.memoryBytes), hv.memoryUsedBytes);
  await shot(page, info, 'wall-hosts');
  await a.delete(`/api/v1/tokens/${kiosk.id}`);
});
