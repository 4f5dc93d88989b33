// Bring your own VM, the console's side (issue 14): the Images page, import by upload with a progress
// bar, a cancelled upload that leaves nothing, delete, the parent's screen picture in the wizard
// while a foreign disk "boots", and the compatibility report on the template and Images pages.
//
// The disk is made here: 1 MiB of raw disk whose MBR boot sector prints a line on the screen through
// the BIOS and halts. Importing it needs only qemu-img; booting it takes SeaBIOS about a second, and it
// never answers a guest agent, so the prepare fails after its boot timeout with the engine's sentence —
// which is exactly the case the screen picture is for (a boot stuck before the agent).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { expect, test, type Page } from '@playwright/test';
import { probeCompat } from '@/lib/engine/compat';
import type { AgentClient } from '@/lib/engine/agent';
import { api, HOME, login, rand, shot } from './helpers';

// the console's own SQLite driver, as its Prisma adapter has it (the e2e console runs on SQLite in E2E_HOME)
type Sqlite = new (file: string) => { prepare(q: string): { run(...args: unknown[]): unknown }; close(): void };
const Database = createRequire(createRequire(path.join(process.cwd(), 'package.json')).resolve('@prisma/adapter-better-sqlite3'))('better-sqlite3') as Sqlite;

const MESSAGE = 'INSTACLONE E2E BOOT SECTOR: NO OS, HALTED';

/**
 * A raw disk: a boot sector that paints the whole text screen blue (white on blue), prints MESSAGE
 * at the top with int 10h and halts; then zeros. The blue screen tells its picture from SeaBIOS's.
 */
function bootDisk(file: string, sizeBytes = 1 << 20) {
  const code = Buffer.from([
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, // cli; xor ax,ax; mov ds,ax
    0xb8, 0x00, 0x06, 0xb7, 0x1f, 0x31, 0xc9, 0xba, 0x4f, 0x18, 0xcd, 0x10, // clear 80x25 to attribute 1Fh (int 10h, ah=06h)
    0xb4, 0x02, 0x30, 0xff, 0x31, 0xd2, 0xcd, 0x10, // cursor to 0,0 (ah=02h)
    0xbe, 0x2e, 0x7c, 0xfc, // mov si,msg (0x7c2e); cld
    0xac, 0x08, 0xc0, 0x74, 0x09, 0xb4, 0x0e, 0xbb, 0x07, 0x00, 0xcd, 0x10, 0xeb, 0xf2, // l: lodsb; or al,al; jz h; teletype; jmp l
    0xf4, 0xeb, 0xfd, // h: hlt; jmp h
  ]);
  const disk = Buffer.alloc(sizeBytes);
  code.copy(disk, 0);
  Buffer.from(`${MESSAGE}\r\n\0`, 'latin1').copy(disk, code.length); // at 0x7c00 + 46 = 0x7c2e
  disk[510] = 0x55;
  disk[511] = 0xaa;
  fs.writeFileSync(file, disk);
}

const importedDir = () => path.join(HOME, 'images', 'imported');
const leftovers = () => (fs.existsSync(importedDir()) ? fs.readdirSync(importedDir()).filter((f) => f.startsWith('.')) : []);

/** Chromium's own throttling (DevTools protocol): the upload takes seconds, so progress and cancel can be seen. */
async function throttle(page: Page, bytesPerSecond: number) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  return () => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
}

// one story: the later tests use the image the first one uploads
test.describe.configure({ mode: 'serial' });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-images-'));
const disk = path.join(tmp, 'boot-sector.img');
const bigDisk = path.join(tmp, 'big.img');
const imageName = rand('e2e-img');
test.beforeAll(() => {
  bootDisk(disk);
  bootDisk(bigDisk, 6 << 20);
});
test.afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await (await api()).delete(`/api/v1/images/${imageName}`).catch(() => undefined);
});

test('images page lists the built-in images; an upload shows its progress and imports the disk', async ({ page }, info) => {
  await login(page, '/images');
  await expect(page.getByRole('link', { name: 'Images' })).toHaveAttribute('aria-current', 'page');
  const tiny = page.locator('[data-testid=image-row][data-name=tiny]');
  await expect(tiny).toBeVisible();
  await expect(tiny.getByTestId('image-firmware')).toHaveText('kernel (direct boot)');
  await expect(tiny.getByTestId('image-origin')).toContainText('built in');

  const up = page.getByTestId('upload-image');
  await up.getByLabel('Disk image file').setInputFiles(bigDisk);
  await expect(up.getByLabel('Image name')).toHaveValue('big'); // suggested from the file name
  await up.getByLabel('Image name').fill(imageName);
  const restore = await throttle(page, 2 << 20); // 6 MiB at 2 MiB/s: about 3 s
  await up.getByRole('button', { name: 'Upload and import' }).click();
  const bar = up.getByRole('progressbar', { name: 'Upload progress' });
  // part-way: more than nothing, less than all
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000, intervals: [100] }).toBeGreaterThan(0);
  const mid = Number(await bar.getAttribute('aria-valuenow'));
  expect(mid).toBeLessThan(100);
  await shot(page, info, '08-upload-progress');
  await restore();
  await expect(up.getByTestId('upload-progress')).toBeHidden({ timeout: 60_000 });
  await expect(up.getByRole('alert')).toHaveCount(0);

  const row = page.locator(`[data-testid=image-row][data-name=${imageName}]`);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('image-origin')).toContainText('imported from raw');
  await expect(row.getByTestId('image-firmware')).toHaveText('BIOS (SeaBIOS)');
  await expect(row.getByTestId('image-size')).toContainText('(disk 6.0 MiB)');
  expect(leftovers()).toEqual([]);
  // the engine has the image as the CLI sees it
  const list = (await (await (await api()).get('/api/v1/images')).json()) as { images: { name: string; format?: string; firmware: string }[] };
  expect(list.images.find((i) => i.name === imageName)).toMatchObject({ format: 'raw', firmware: 'bios' });
  await shot(page, info, '08-images');
});

test('a cancelled upload leaves nothing listed and no temp file', async ({ page }, info) => {
  await login(page, '/images');
  const up = page.getByTestId('upload-image');
  const name = rand('e2e-cancel');
  await up.getByLabel('Disk image file').setInputFiles(bigDisk);
  await up.getByLabel('Image name').fill(name);
  await throttle(page, 256 << 10); // 6 MiB at 256 KiB/s: 24 s, cancelled long before
  await up.getByRole('button', { name: 'Upload and import' }).click();
  const bar = up.getByRole('progressbar', { name: 'Upload progress' });
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000, intervals: [100] }).toBeGreaterThan(0);
  await up.getByRole('button', { name: 'Cancel the upload' }).click();
  await expect(up.getByRole('alert')).toHaveText('Upload cancelled; nothing was kept.');
  await shot(page, info, '08-upload-cancelled');
  // the server notices the cut connection, removes its temp file and imports nothing
  await expect.poll(leftovers, { timeout: 20_000 }).toEqual([]);
  await page.reload();
  await expect(page.locator('[data-testid=image-row][data-name=tiny]')).toBeVisible();
  await expect(page.locator(`[data-testid=image-row][data-name=${name}]`)).toHaveCount(0);
  const list = (await (await (await api()).get('/api/v1/images')).json()) as { images: { name: string }[] };
  expect(list.images.map((i) => i.name)).not.toContain(name);
});

test('the wizard shows the screen of a parent stuck before its agent, then the engine says why', async ({ page }, info) => {
  const name = rand('e2e-stuck');
  await login(page, '/prepare');
  const select = page.locator('select#image');
  // every image is offered, with its firmware
  await expect(select.locator('option', { hasText: imageName })).toHaveText(new RegExp(`${imageName} — imported, BIOS \\(SeaBIOS\\)`));
  await expect(select.locator('option', { hasText: 'tiny' })).toContainText('built in, kernel (direct boot)');
  await page.getByLabel('Template name').fill(name);
  await expect(page.getByLabel('Template name')).toHaveValue(name);
  await select.selectOption(imageName);
  await page.getByLabel('Boot timeout (s)').fill('30');
  for (let i = 0; i < 4; i++) await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByTestId('prepare-review')).toContainText(name);
  await page.getByRole('button', { name: 'Prepare template' }).click();

  const screen = page.getByRole('region', { name: 'Parent screen' }).getByTestId('screen');
  const picture = screen.getByTestId('screen-picture');
  await expect(picture).toBeVisible({ timeout: 30_000 });
  // it refreshes: a second picture arrives
  await expect.poll(async () => Number(await screen.getAttribute('data-pictures')), { timeout: 20_000 }).toBeGreaterThan(1);
  // a real picture of the text screen (720x400) that follows the boot: SeaBIOS's black screen first,
  // then the boot sector's blue one
  await expect
    .poll(
      () =>
        picture.evaluate((img: HTMLImageElement) => {
          if (!img.complete || !img.naturalWidth) return null; // the next picture is still loading
          const c = document.createElement('canvas');
          c.width = img.naturalWidth;
          c.height = img.naturalHeight;
          const g = c.getContext('2d')!;
          g.drawImage(img, 0, 0);
          const blue = [[10, 200], [360, 300], [700, 390]].every(([x, y]) => {
            const [r, gr, b] = g.getImageData(x, y, 1, 1).data;
            return b > 120 && r < 60 && gr < 60;
          });
          return { w: img.naturalWidth, h: img.naturalHeight, blue };
        }),
      { timeout: 30_000, intervals: [1000] },
    )
    .toEqual({ w: 720, h: 400, blue: true });
  await shot(page, info, '08-wizard-screen');
  // the parent's own VM page shows the same screen while it runs
  const vmPage = await page.context().newPage();
  await vmPage.goto(`/vms/${name}.parent`);
  await expect(vmPage.getByTestId('vm-detail').getByTestId('screen-picture')).toBeVisible();
  await shot(vmPage, info, '08-vm-screen');
  await vmPage.close();

  // no agent ever answers: the engine's sentence says what was seen and what to do
  await expect(page.getByRole('heading', { name: `Preparing ${name} failed` })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('alert').first()).toContainText('did not become ready');
  await expect(page.getByRole('alert').first()).toContainText('qemu-guest-agent');
  // the last picture stays, showing where the boot stopped
  await expect(picture).toBeVisible();
  await expect(screen).toContainText('The last picture');
  await shot(page, info, '08-wizard-failed');
  // nothing left behind: no template, no parent
  const ls = (await (await (await api()).get('/api/v1/ls')).json()) as { templates: { name: string }[]; vms: { name: string }[] };
  expect(ls.templates.map((t) => t.name)).not.toContain(name);
  expect(ls.vms.filter((v) => v.name.startsWith(`${name}.`))).toEqual([]);
});

test('the compatibility report on the template page and the Images page; delete refused while used', async ({ page }, info) => {
  // A tiny template (our own image: its children use the resident identity channel, so the engine
  // stores no report). The report is then made by the engine's own probeCompat from the answers a
  // stock Debian 12 qemu-guest-agent gives (booting a real distribution costs minutes under TCG; the
  // engine tests do that) and stored as the engine stores it.
  const a = await api();
  const name = rand('e2e-compat');
  const r = await a.post('/api/v1/templates', { data: { image: 'tiny', name, slots: 0, quiesce: false, warmup: [] } });
  expect(r.ok(), await r.text()).toBeTruthy();
  await login(page, `/templates/${name}`);
  await expect(page.getByTestId('no-compat')).toContainText('identity channel');

  const agent = {
    call: async (cmd: string) => {
      if (cmd === 'guest-info') {
        const names = ['guest-exec', 'guest-exec-status', 'guest-file-open', 'guest-file-read', 'guest-file-write', 'guest-file-close', 'guest-set-time', 'guest-get-time', 'guest-network-get-interfaces', 'guest-fsfreeze-freeze', 'guest-fsfreeze-thaw'];
        return { version: '7.2.11', supported_commands: [...names.map((n) => ({ name: n, enabled: true })), { name: 'guest-set-user-password', enabled: false }] };
      }
      return 1;
    },
    exec: async () => ({ exitCode: 0, stdout: 'iface=ens4\nvmgenid=yes\ndhcp=yes\nmanager=networkd\n', stderr: '' }),
  } as unknown as AgentClient;
  const report = await probeCompat(agent);
  const sql = (q: string, ...args: string[]) => {
    const db = new Database(path.join(HOME, 'instaclone.db'));
    try {
      db.prepare(q).run(...args);
    } finally {
      db.close();
    }
  };
  sql('UPDATE "Template" SET "compat" = ? WHERE "name" = ?', JSON.stringify(report), name);

  await page.reload();
  const rep = page.getByTestId('compat-report');
  await expect(rep.locator('li')).toHaveCount(report.lines.length);
  await expect(rep.locator('li[data-key=agent]')).toContainText('qemu-guest-agent 7.2.11');
  await expect(rep.locator('li[data-key=commands]')).toContainText('blocked: guest-set-user-password');
  await expect(rep.locator('li[data-key=network]')).toContainText('systemd-networkd, primary interface ens4, DHCP');
  await expect(rep.locator('li[data-key=network]')).toContainText('For the children: each child gets its own MAC, then renews its DHCP lease');
  await expect(rep.locator('li[data-key=vmgenid]')).toContainText('reseeds its random number generator');
  await expect(rep.locator('li[data-key=fsfreeze]')).toContainText('persistent children');
  await shot(page, info, '08-template-compat');

  // the Images page shows it under the image the template came from (here: recorded as made from the
  // imported image, so that its removal is refused while the template exists)
  sql('UPDATE "Template" SET "image" = ? WHERE "name" = ?', imageName, name);
  try {
    await page.goto('/images');
    const row = page.locator(`[data-testid=image-row][data-name=${imageName}]`);
    const used = row.getByTestId('image-templates');
    await used.locator('summary').click();
    await expect(used).toContainText(name);
    await expect(used.getByTestId('compat-report').locator('li[data-key=network]')).toContainText('primary interface ens4');
    await shot(page, info, '08-images-compat');
    // delete is refused with the engine's sentence while the template uses the image
    await row.getByRole('button', { name: `Delete image ${imageName}` }).click();
    await page.getByRole('button', { name: `Delete ${imageName}`, exact: true }).click();
    await expect(page.getByRole('dialog').getByRole('alert')).toContainText(`Image "${imageName}" is used by template(s) ${name}`);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  } finally {
    sql('UPDATE "Template" SET "image" = ? WHERE "name" = ?', 'tiny', name);
  }
  expect((await a.delete(`/api/v1/templates/${name}?force=1`)).ok()).toBeTruthy();

  // once unused, it is deleted after a confirmation naming it
  await page.reload();
  const row = page.locator(`[data-testid=image-row][data-name=${imageName}]`);
  await expect(row.getByTestId('image-templates')).toHaveCount(0);
  await row.getByRole('button', { name: `Delete image ${imageName}` }).click();
  await page.getByRole('button', { name: `Delete ${imageName}`, exact: true }).click();
  await expect(row).toHaveCount(0);
  await shot(page, info, '08-images-after-delete');
});
