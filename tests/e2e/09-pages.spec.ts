// Every page at a desktop, a wall and a phone size: a screenshot each, and a failure on horizontal
// overflow, on overlapping top-bar items, or on a console error. axe-core's WCAG 2.1 A/AA rules run
// on the pages operators and stakeholders see. Plus the keyboard path to Fork… and bounded prefetch.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { api, ensureTemplate, forkViaApi, login, rand, shot } from './helpers';

const VIEWPORTS = [
  { name: 'desktop', width: 1440, height: 900 },
  { name: 'wall', width: 1920, height: 1080 },
  { name: 'phone', width: 390, height: 844 },
];
const AXE_PAGES = new Set(['home', 'prepare', 'images', 'pools', 'wall', 'performance', 'demo', 'vm', 'hosts']);

// A browser in another time zone and language than the server: server-rendered dates or numbers
// formatted with the browser's defaults would not match at hydration.
test.use({ locale: 'de-DE', timezoneId: 'Pacific/Auckland' });

let tpl = '';
let vm = '';
let pool = '';
test.beforeAll(async () => {
  test.setTimeout(300_000);
  tpl = await ensureTemplate();
  const a = await api();
  const ls = await (await a.get('/api/v1/ls')).json();
  vm = ls.vms.find((v: { kind: string; state: string }) => v.kind === 'child' && v.state === 'running')?.name ?? (await forkViaApi(tpl, 1, rand('e2e-pg'))).children[0].name;
  // a pool with a claimed, labelled member: the widest row the Pools page draws
  pool = rand('e2e-pgpool');
  const made = await a.post('/api/v1/pools', { data: { name: pool, template: tpl, size: 1, spares: 1, ttl: '8h' } });
  expect(made.ok(), await made.text()).toBeTruthy();
  const claim = await a.post(`/api/v1/pools/${pool}/claim`, { data: { label: 'a rather long label for a phone', wait: 180 } });
  expect(claim.ok(), await claim.text()).toBeTruthy();
});
test.afterAll(async () => {
  if (pool) await (await api()).delete(`/api/v1/pools/${pool}`);
});

const pages = () => [
  { key: 'home', path: '/' },
  { key: 'prepare', path: '/prepare' },
  { key: 'images', path: '/images' },
  { key: 'pools', path: '/pools' },
  { key: 'demo', path: '/demo' },
  { key: 'performance', path: '/performance' },
  { key: 'wall', path: '/wall' },
  { key: 'hosts', path: '/hosts' },
  { key: 'template', path: `/templates/${tpl}` },
  { key: 'vm', path: `/vms/${vm}` },
];

/** What overflows the viewport sideways (the page or the scrolling content column). */
async function overflow(page: Page) {
  return page.evaluate(() => {
    const out: string[] = [];
    const doc = document.scrollingElement!;
    if (doc.scrollWidth > window.innerWidth + 1) out.push(`page ${doc.scrollWidth} > ${window.innerWidth}`);
    const main = document.getElementById('content');
    if (main && main.scrollWidth > main.clientWidth + 1) {
      // name the deepest elements that stick out, so a failure says what to fix
      const edge = main.getBoundingClientRect().right;
      const wide = Array.from(main.querySelectorAll<HTMLElement>('*'))
        .filter((e) => e.getBoundingClientRect().right > edge + 1 && !Array.from(e.children).some((c) => c.getBoundingClientRect().right > edge + 1))
        .slice(0, 3)
        .map((e) => `${e.tagName.toLowerCase()}.${String(e.className).split(' ').slice(0, 3).join('.')} "${(e.textContent ?? '').trim().slice(0, 30)}"`);
      out.push(`#content ${main.scrollWidth} > ${main.clientWidth}: ${wide.join(' | ')}`);
    }
    // at phone size nothing scrolls sideways inside the page either (a table in a scroller is still cut)
    if (window.innerWidth < 640)
      for (const e of Array.from(document.querySelectorAll<HTMLElement>('#content *'))) {
        const x = getComputedStyle(e).overflowX;
        if ((x === 'auto' || x === 'scroll') && e.scrollWidth > e.clientWidth + 1 && e.offsetParent !== null)
          out.push(`${e.tagName.toLowerCase()}.${String(e.className).split(' ').slice(0, 3).join('.')} scrolls sideways (${e.scrollWidth} > ${e.clientWidth})`);
      }
    return out;
  });
}

/** Visible top-bar items whose boxes intersect (pills over the menu, as seen at 390 px). */
async function overlaps(page: Page) {
  return page.evaluate(() => {
    const header = document.querySelector('header');
    if (!header) return [];
    const items = Array.from(header.querySelectorAll<HTMLElement>(':scope > *, [data-testid="health-bar"] > *'))
      .filter((e) => e.offsetParent !== null && !e.matches('[data-testid="health-bar"]'))
      .map((e) => ({ e, r: e.getBoundingClientRect() }));
    const out: string[] = [];
    for (let i = 0; i < items.length; i++)
      for (let j = i + 1; j < items.length; j++) {
        const a = items[i].r;
        const b = items[j].r;
        if (items[i].e.contains(items[j].e) || items[j].e.contains(items[i].e)) continue;
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) out.push(`${items[i].e.textContent?.trim()} / ${items[j].e.textContent?.trim()}`);
        if (a.right > window.innerWidth + 1) out.push(`${items[i].e.textContent?.trim()} off screen`);
      }
    return out;
  });
}

for (const vp of VIEWPORTS) {
  test(`every page at ${vp.name} ${vp.width}×${vp.height}: no sideways overflow, no overlap, no console error${vp.name === 'desktop' ? ', axe WCAG 2.1 AA' : ''}`, async ({ page }, info) => {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
    await login(page, '/');
    const problems: string[] = [];
    for (const p of pages()) {
      await page.goto(p.path);
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await page.waitForTimeout(600);
      await shot(page, info, `09-${vp.name}-${p.key}`);
      for (const o of await overflow(page)) problems.push(`${p.key}: overflow ${o}`);
      for (const o of await overlaps(page)) problems.push(`${p.key}: overlap ${o}`);
      if (vp.name === 'desktop' && AXE_PAGES.has(p.key)) {
        const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
        for (const v of r.violations) problems.push(`${p.key}: axe ${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
      }
    }
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
  });
}

test('phone: the menu is behind a button and opens the sidebar', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await login(page, `/vms/${vm}`);
  await expect(page.getByTestId('sidebar')).toBeHidden();
  await page.getByTestId('menu-button').click();
  await expect(page.getByTestId('sidebar')).toBeVisible();
  await page.getByTestId('sidebar').getByRole('link', { name: 'Lineage' }).click();
  await expect(page.getByTestId('sidebar')).toBeHidden();
});

test('keyboard: skip link, one tab stop for the sidebar tree, Fork… within a few presses', async ({ page }) => {
  await login(page, `/templates/${tpl}`);
  await expect(page.getByRole('button', { name: 'Fork…' })).toBeVisible();
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  let presses = 0;
  for (; presses < 12; presses++) {
    await page.keyboard.press('Tab');
    if (await page.getByRole('button', { name: 'Fork…' }).evaluate((b) => b === document.activeElement)) break;
  }
  expect(presses).toBeLessThan(12);
  // the tree takes one tab stop; arrow keys move inside it
  const tree = page.getByTestId('resource-tree');
  const stops = await tree.locator('a[tabindex="0"]').count();
  expect(stops).toBe(1);
  await tree.locator('a[tabindex="0"]').focus();
  await page.keyboard.press('Home');
  const first = await page.evaluate(() => document.activeElement?.textContent);
  expect(first).toBe(await tree.locator('a[data-tree-item]').first().textContent());
  await page.keyboard.press('ArrowDown');
  const second = await page.evaluate(() => document.activeElement?.textContent);
  expect(second).not.toBe(first);
  expect(await tree.locator('a[tabindex="0"]').count()).toBe(1);
});

test('a page load fires a bounded number of prefetch requests, whatever the number of VMs', async ({ page }) => {
  let prefetches = 0;
  page.on('request', (r) => {
    const h = r.headers();
    if (h['next-router-prefetch'] || h['purpose'] === 'prefetch') prefetches++;
  });
  await login(page, '/');
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.waitForTimeout(1500);
  expect(prefetches).toBeLessThanOrEqual(8);
});

/** The JavaScript chunks a page's HTML loads. */
async function chunksOf(page: Page, path: string): Promise<Set<string>> {
  const html = await (await page.request.get(path)).text();
  return new Set(html.match(/\/_next\/static\/chunks\/[\w.-]+\.js/g) ?? []);
}

// React #418 on / came from here: the shell (top bar, sidebar) hydrates and fetches first; a page's
// Suspense boundary hydrates once its own chunks arrive, and rendered data the server's HTML lacked.
// Holding back the chunks only this page loads makes that order certain instead of one run in three.
test("no hydration error when a page's own code arrives after the shell has fetched its data", async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  await login(page, '/prepare');
  const other = await chunksOf(page, '/performance');
  for (const path of ['/', '/pools', '/images', '/prepare', '/demo', `/templates/${tpl}`, `/vms/${vm}`, '/performance']) {
    const own = await chunksOf(page, path);
    const base = path === '/performance' ? await chunksOf(page, '/') : other;
    const late = new Set([...own].filter((c) => !base.has(c)));
    expect(late.size, `${path} has chunks of its own`).toBeGreaterThan(0);
    let held = 0;
    await page.route(
      (u) => late.has(u.pathname),
      async (r) => {
        held++;
        await new Promise((ok) => setTimeout(ok, 2500));
        await r.continue().catch(() => undefined);
      },
    );
    await page.goto(path);
    await page.waitForLoadState('networkidle').catch(() => undefined);
    await expect(page.locator('#content h1').first()).toBeVisible();
    await page.waitForTimeout(300);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    expect(held, `${path}: its own chunks were held back`).toBeGreaterThan(0);
  }
  expect(errors).toEqual([]);
});
