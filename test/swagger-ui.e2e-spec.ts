import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumLaunch } from './support/chromium';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(120_000);

const ARTIFACTS = join(__dirname, 'artifacts');
// The machine has no outside network: everything Chromium would fetch by itself is turned off.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// An organization admin in Swagger UI, in a real browser: authorize with a token, create a config
// through "Try it out", then see a rule error rendered.
describe('Swagger UI in Chromium', () => {
  let t: TestApp;
  let base: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const browser = await chromiumLaunch();
    t = await startTestApp();
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'meander-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: browser.executablePath, headless: true, args: [...new Set([...browser.args, ...FLAGS])] });
    page = await context.newPage();
  });
  afterAll(async () => {
    await context?.close();
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function execute(operation: string, body: object): Promise<{ status: string; text: string }> {
    const block = page.locator(operation);
    const editor = block.locator('textarea.body-param__text');
    await editor.fill(JSON.stringify(body, null, 2));
    // Swagger UI keeps the previous response on screen until the new one arrives: wait for the
    // request itself, then for the table to show its status.
    const answered = page.waitForResponse((res) => res.request().method() === 'POST' && res.url().includes('/v1/'));
    await block.locator('button.execute').click();
    const status = String((await answered).status());
    const response = block.locator('.live-responses-table .response').first();
    await response.locator('.response-col_status', { hasText: status }).waitFor();
    return { status: (await response.locator('.response-col_status').innerText()).trim(), text: await response.locator('.response-col_description').innerText() };
  }

  it('authorizes with a token, creates a config with "Try it out" (201, has_api_key) and renders a 422 rule error', async () => {
    const org = newOrgId();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(`${base}/docs`);
    await page.locator('.information-container .title').waitFor();
    expect(await page.locator('.information-container .title').innerText()).toContain('Meander integrations service');

    await page.locator('button.authorize').first().click();
    // The bearer scheme's block (the dialog also lists the webhook signature schemes).
    const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: '(http, Bearer)' });
    await bearer.locator('input').fill(await t.token('org_admin', org));
    await bearer.locator('button.authorize').click();
    await bearer.locator('button.btn-done').click();
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-1-authorized.png'), fullPage: false });

    const create = '#operations-Integration_configs-IntegrationConfigController_create';
    await page.locator(`${create} .opblock-summary`).click();
    await page.locator(`${create} button.try-out__btn`).click();
    await page.locator(`${create} tr[data-param-name="org_id"] input`).fill(org);

    const created = await execute(create, {
      integration_type: 'xledger',
      display_name: 'Xledger production',
      base_url: 'https://api.xledger.example/graphql',
      api_key: 'xl-secret-api-key',
      sync_frequency: 'daily',
    });
    await page.locator(create).screenshot({ path: join(ARTIFACTS, 'swagger-2-created.png') });
    expect(created.status).toBe('201');
    expect(created.text).toContain('"has_api_key": true');
    expect(created.text).not.toContain('xl-secret-api-key');
    const [row] = await t.dataSource.query(`SELECT display_name FROM integration_configs WHERE organization_id = $1`, [org]);
    expect(row.display_name).toBe('Xledger production');

    const refused = await execute(create, { integration_type: 'hlf_portal', display_name: 'HLF portal', base_url: 'https://hlf.example', enabled: true });
    await page.locator(create).screenshot({ path: join(ARTIFACTS, 'swagger-3-rule-error.png') });
    expect(refused.status).toBe('422');
    expect(refused.text).toContain('credentials_required_before_enable');
    expect(errors).toEqual([]);
  });
});
