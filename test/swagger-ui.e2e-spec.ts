import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ORG_ID_STORAGE_KEY } from '../src/http/swagger';
import { chromiumLaunch } from './support/chromium';
import { xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(180_000);

const ARTIFACTS = join(__dirname, 'artifacts');
// The machine has no outside network: everything Chromium would fetch by itself is turned off.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CREATE = '#operations-Integration_configs-IntegrationConfigController_create';
const LIST = '#operations-Integration_configs-IntegrationConfigController_list';
const WEBHOOK = '#operations-Inbound_webhooks-InboundWebhooksController_receive';

// An organization admin in Swagger UI, in a real browser. Each screenshot in test/artifacts/ shows
// one thing the admin relies on: the Authorize dialog, org_id filled in, a config created with
// "Try it out", a rule error, examples that are the service's answers, compact headers, the
// webhook signatures on their operation, and org_id remembered on the next visit.
describe('Swagger UI in Chromium', () => {
  let t: TestApp;
  let base: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const browser = await chromiumLaunch();
    t = await startTestApp();
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'meander-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: browser.executablePath, headless: true, args: [...new Set([...browser.args, ...FLAGS])] });
    page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
  });
  afterAll(async () => {
    await context?.close();
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function openDocs(): Promise<void> {
    await page.goto(`${base}/docs`);
    await page.locator('.information-container .title').waitFor();
  }

  /** Authorizes with the token, logging out first a token the browser still remembers. */
  async function authorize(token: string): Promise<void> {
    await page.locator('button.authorize').first().click();
    const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: '(http, Bearer)' }).first();
    await bearer.waitFor();
    const logout = bearer.locator('button', { hasText: 'Logout' });
    if ((await logout.count()) > 0) await logout.click();
    await bearer.locator('input').fill(token);
    await bearer.locator('button.authorize').click();
    await bearer.locator('button.btn-done').click();
  }

  async function tryOut(operation: string): Promise<void> {
    await page.locator(`${operation} .opblock-summary`).click();
    await page.locator(`${operation} button.try-out__btn`).click();
  }

  async function execute(operation: string, body: object): Promise<{ status: string; text: string }> {
    const block = page.locator(operation);
    await block.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
    // Swagger UI keeps the previous response on screen until the new one arrives: wait for the
    // request itself, then for the table to show its status.
    const answered = page.waitForResponse((res) => res.request().method() === 'POST' && res.url().includes('/v1/'));
    await block.locator('button.execute').click();
    const status = String((await answered).status());
    const response = block.locator('.live-responses-table .response').first();
    await response.locator('.response-col_status', { hasText: status }).waitFor();
    return { status: (await response.locator('.response-col_status').innerText()).trim(), text: await response.locator('.response-col_description').innerText() };
  }

  /** The example Swagger UI renders for one documented response of an operation. */
  async function documentedExample(operation: string, status: number): Promise<unknown> {
    const row = page.locator(`${operation} .responses-table tr.response[data-code="${status}"]`);
    return JSON.parse(await row.locator('.highlight-code').first().innerText());
  }

  it('opens the Authorize dialog on the bearer field, with no webhook signature boxes', async () => {
    await openDocs();
    await page.locator('button.authorize').first().click();
    const dialog = page.locator('.modal-ux');
    await dialog.waitFor();
    const bearerInput = dialog.locator('.auth-container').filter({ hasText: '(http, Bearer)' }).first().locator('input');
    await expect(bearerInput.evaluate((input) => input === input.ownerDocument.activeElement)).resolves.toBe(true);
    const box = await bearerInput.boundingBox();
    expect(box && box.y >= 0 && box.y + box.height <= page.viewportSize()!.height).toBe(true);
    const text = await dialog.innerText();
    expect(text).not.toMatch(/webhook-signature|X-XL-Webhook-Signature|apiKey/);
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-1-authorize-dialog.png') });
    await dialog.locator('.close-modal').click();
  });

  it('lists the shared rate-limit and CORS headers as one tight row each', async () => {
    await page.locator(`${CREATE} .opblock-summary`).click();
    const block = page.locator(CREATE);
    const tables = block.locator('.responses-table table.headers');
    await tables.first().waitFor();
    expect(await tables.count()).toBeGreaterThanOrEqual(8);
    // One tight row per header (a line or two of words, no schema box): under 36 px a row.
    for (const table of await tables.all()) {
      const rows = await table.locator('tbody > tr').count();
      expect((await table.boundingBox())!.height).toBeLessThan(36 * Math.max(rows, 1));
    }
    // Eleven documented responses, their examples and headers: not a 6,000 px column.
    expect((await block.boundingBox())!.height).toBeLessThan(6000);
    await page.locator(`${CREATE} tr.response[data-code="401"]`).screenshot({ path: join(ARTIFACTS, 'swagger-7-compact-headers.png') });
    await page.locator(`${CREATE} .opblock-summary`).click();
  });

  it('fills org_id in from the token, creates a config with "Try it out" (201) and renders a 422 rule error', async () => {
    const org = newOrgId();
    await openDocs();
    await authorize(await t.token('org_admin', org));
    await tryOut(CREATE);
    const orgId = page.locator(`${CREATE} tr[data-param-name="org_id"] input`);
    await expect(orgId.inputValue()).resolves.toBe(org);
    await page.locator(`${CREATE} .parameters-container`).screenshot({ path: join(ARTIFACTS, 'swagger-2-org-id-from-token.png') });

    const created = await execute(CREATE, {
      integration_type: 'xledger',
      display_name: 'Xledger production',
      base_url: 'https://api.xledger.example/graphql',
      api_key: 'xl-secret-api-key',
      sync_frequency: 'daily',
    });
    await page.locator(`${CREATE} .live-responses-table`).screenshot({ path: join(ARTIFACTS, 'swagger-3-created.png') });
    expect(created.status).toBe('201');
    expect(created.text).toContain('"has_api_key": true');
    expect(created.text).not.toContain('xl-secret-api-key');
    const [row] = await t.dataSource.query(`SELECT display_name FROM integration_configs WHERE organization_id = $1`, [org]);
    expect(row.display_name).toBe('Xledger production');

    const refused = await execute(CREATE, { integration_type: 'hlf_portal', display_name: 'HLF portal', base_url: 'https://hlf.example', enabled: true });
    await page.locator(`${CREATE} .live-responses-table`).screenshot({ path: join(ARTIFACTS, 'swagger-4-rule-error.png') });
    expect(refused.status).toBe('422');
    expect(refused.text).toContain('credentials_required_before_enable');
  });

  it('shows examples that are answers of the service: a 400 as the validator words it, a 201 with distinct ids and no "string"', async () => {
    const org = newOrgId();
    const live = await t.http
      .post(`/v1/organizations/${org}/integrations`)
      .set('Authorization', `Bearer ${await t.token('org_admin', org)}`)
      .send(xledgerConfig({ base_url: 'http://insecure.example' }));
    expect(live.status).toBe(400);
    // The 400's first example is its first rule, base_url_must_be_https: the same answer.
    await expect(documentedExample(CREATE, 400)).resolves.toEqual(live.body);
    await page.locator(`${CREATE} tr.response[data-code="400"]`).screenshot({ path: join(ARTIFACTS, 'swagger-5-problem-example.png') });

    const created = (await documentedExample(CREATE, 201)) as Record<string, unknown>;
    expect(Object.values(created)).not.toContain('string');
    expect(new Set([created.id, created.organization_id, created.created_by]).size).toBe(3);
    await page.locator(`${CREATE} tr.response[data-code="201"]`).screenshot({ path: join(ARTIFACTS, 'swagger-6-response-example.png') });
  });

  it('describes the webhook signatures as headers of the webhook operation', async () => {
    await page.locator(`${WEBHOOK} .opblock-summary`).click();
    const parameters = page.locator(`${WEBHOOK} .parameters-container`);
    await parameters.locator('tr[data-param-name="webhook-signature"]').waitFor();
    await expect(parameters.locator('tr[data-param-name="X-XL-Webhook-Signature"]').count()).resolves.toBe(1);
    // No lock: the operation takes no bearer token.
    await expect(page.locator(`${WEBHOOK} .authorization__btn`).count()).resolves.toBe(0);
    await parameters.screenshot({ path: join(ARTIFACTS, 'swagger-8-webhook-signatures.png') });
  });

  it('remembers the token and org_id on the next visit, and the org_id a global admin typed', async () => {
    const org = newOrgId();
    await openDocs();
    await authorize(await t.token('org_admin', org));
    await openDocs();
    await tryOut(LIST);
    await expect(page.locator(`${LIST} tr[data-param-name="org_id"] input`).inputValue()).resolves.toBe(org);

    // (A fresh load of /docs: a reload would keep the deep link that reopens the last operation.)
    // A global admin's token names no organization: the org_id typed once is offered next time.
    await authorize(await t.token('global_admin'));
    const other = newOrgId();
    await openDocs();
    await tryOut(LIST);
    await page.locator(`${LIST} tr[data-param-name="org_id"] input`).fill(other);
    // Swagger UI takes the typed value after a short debounce.
    const stored = ([key, value]: string[]) => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem(key) === value;
    await page.waitForFunction(stored, [ORG_ID_STORAGE_KEY, other]);
    await openDocs();
    await tryOut(CREATE);
    await expect(page.locator(`${CREATE} tr[data-param-name="org_id"] input`).inputValue()).resolves.toBe(other);
    await page.locator(`${CREATE} .parameters-container`).screenshot({ path: join(ARTIFACTS, 'swagger-9-org-id-remembered.png') });
    expect(errors).toEqual([]);
  });
});
