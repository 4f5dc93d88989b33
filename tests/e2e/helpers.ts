// Helpers shared by the specs: credentials, an API client, one prepared template reused across specs,
// random names, screenshots kept as artifacts.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, request, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';

export const BASE = process.env.E2E_BASE_URL ?? 'http://localhost:3100';
export const HOME = process.env.E2E_HOME ?? '';
export const ARTIFACTS = path.join(process.cwd(), 'test-results/e2e-artifacts'); // kept by CI, not committed
const STATE = () => path.join(HOME, 'e2e-state.json');

export function rand(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 7)}`;
}

export function adminToken(): string {
  return fs.readFileSync(path.join(HOME, 'admin.token'), 'utf8').trim();
}

export async function api(): Promise<APIRequestContext> {
  return request.newContext({ baseURL: BASE, extraHTTPHeaders: { authorization: `Bearer ${adminToken()}` }, timeout: 180_000 });
}

/** A password user of `role` in the console under test (made once per run; its password derives from the run's admin token). */
export async function ensureUser(role: 'admin' | 'operator' | 'viewer'): Promise<{ username: string; password: string }> {
  const username = `e2e-${role}`;
  const password = createHash('sha256').update(`${adminToken()}:${role}`).digest('hex').slice(0, 24);
  const made = readState().users ?? [];
  if (!made.includes(username)) {
    const env = { ...process.env, INSTACLONE_HOME: HOME, DATABASE_URL: `file:${path.join(HOME, 'instaclone.db')}` };
    await pexec('npx', ['tsx', 'tests/e2e/make-user.ts', username, role, password], { env, timeout: 120_000 });
    writeState({ users: [...made, username] });
  }
  return { username, password };
}

/** Logs the page in with a password (the admin, unless `role` says otherwise), landing on `next`. */
export async function login(page: Page, next = '/', role: 'admin' | 'operator' = 'admin') {
  const u = await ensureUser(role);
  const r = await page.request.post('/api/auth/login', { data: u, headers: { origin: BASE } });
  expect(r.ok(), await r.text()).toBeTruthy();
  await page.goto(next);
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
}

/** A kiosk's log-in: the viewer token in the fragment of /token-login (never sent to the server in a URL). */
export async function tokenLogin(page: Page, secret: string, next: string) {
  await page.goto(`/token-login#token=${encodeURIComponent(secret)}&next=${encodeURIComponent(next)}`);
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
}

export async function shot(page: Page, info: TestInfo, name: string) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  await info.attach(name, { path: file, contentType: 'image/png' });
}

interface State {
  template?: string;
  children?: string[];
  /** the template with forwarded ports 80 and 8080 (08-round2) */
  portsTemplate?: string;
  /** password users made by ensureUser */
  users?: string[];
}
export function readState(): State {
  try {
    return JSON.parse(fs.readFileSync(STATE(), 'utf8')) as State;
  } catch {
    return {};
  }
}
export function writeState(s: State) {
  fs.writeFileSync(STATE(), JSON.stringify({ ...readState(), ...s }));
}

/** The template the wizard spec prepared, or a fresh one through the API (so a spec can run alone). */
export async function ensureTemplate(): Promise<string> {
  const s = readState();
  const a = await api();
  if (s.template) {
    const r = await a.get(`/api/v1/templates/${s.template}`);
    if (r.ok()) return s.template;
  }
  const name = rand('e2e-tpl');
  const r = await a.post('/api/v1/templates', { data: { image: 'tiny', name, slots: 0, quiesce: false } });
  expect(r.ok(), await r.text()).toBeTruthy();
  writeState({ template: name });
  return name;
}

export async function forkViaApi(template: string, count: number, prefix: string) {
  const a = await api();
  const r = await a.post(`/api/v1/templates/${template}/fork`, { data: { count, prefix } });
  expect(r.ok(), await r.text()).toBeTruthy();
  return (await r.json()) as { children: { id: string; name: string }[] };
}

const pexec = promisify(execFile);
export async function cli(args: string[]) {
  return pexec(path.join(process.cwd(), 'bin/instaclone'), args, {
    env: { ...process.env, INSTACLONE_URL: BASE, INSTACLONE_TOKEN: adminToken() },
    timeout: 180_000,
  });
}
