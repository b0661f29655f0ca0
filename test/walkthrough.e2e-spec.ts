import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken } from '../src/auth/issue-token';
import { killAllChildren, ROOT, startServiceProcess, waitForExit, type ServiceProcess } from './support/child-processes';
import { TEST_ENCRYPTION_KEYS, TEST_JWT_SECRET } from './support/test-app';

jest.setTimeout(180_000);

const DOC = join(ROOT, 'docs', 'walkthrough.md');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The doc's ```bash blocks, in order (```sh blocks, such as `npm start`, are for people only). */
function bashBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
}

// Ahead of the doc: curl records each call (its arguments, response headers and body, in a
// directory named by the time) and still prints the body, as the doc expects.
const RECORDING_CURL = `curl() {
  local call="$WALK_CALLS/$(date +%s%N)"
  mkdir "$call"
  printf '%s\\0' "$@" > "$call/args"
  command curl -D "$call/headers" "$@" | tee "$call/body"
}`;

interface Call {
  /** `GET /v1/organizations/{uuid}/integrations`: the method and the path with its ids blanked. */
  route: string;
  status: number;
  text: string;
  body: any;
}

function recordedCalls(dir: string): Call[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const args = readFileSync(join(dir, name, 'args'), 'utf8')
        .split('\0')
        .slice(0, -1);
      const explicit = args.indexOf('-X');
      const method = explicit >= 0 ? args[explicit + 1] : args.some((a) => a === '-d' || a === '--data-raw') ? 'POST' : 'GET';
      const url = new URL(args.find((a) => /^https?:\/\//.test(a))!);
      const statusLines = readFileSync(join(dir, name, 'headers'), 'utf8').match(/^HTTP\/[\d.]+ (\d{3})/gm) ?? [];
      const text = readFileSync(join(dir, name, 'body'), 'utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      return { route: `${method} ${url.pathname.replace(UUID, '{uuid}')}`, status: Number(statusLines.at(-1)?.split(' ')[1]), text, body };
    });
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// The walkthrough as a reader runs it: the real service in its own process (as `npm start`, on
// the tests' database), the doc's bash blocks in one shell, the token from `npm run token`.
describe('docs/walkthrough.md, run as written', () => {
  const markdown = readFileSync(DOC, 'utf8');
  let dir: string;
  let service: ServiceProcess | undefined;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meander-walkthrough-'));
    service = await startServiceProcess({ NODE_ENV: 'development', DATA_DIR: join(dir, 'data'), DELIVERY_WORKERS: '0' });
    base = service.base;
  });

  afterAll(async () => {
    if (service?.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await waitForExit(service.child);
    }
    killAllChildren();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists each built-in type's required target fields and credentials as the registry does", async () => {
    const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'sync_service', orgId: null });
    const registry = (await (await fetch(`${base}/v1/integration-types`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: any[] };
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const rows = markdown
      .split('\n')
      .filter((line) => /^\| `[a-z_]+` \|/.test(line))
      .map((line) => line.split('|').slice(1, -1));
    const documented = rows.map(([type, targets, , credentials]) => ({
      integration_type: names(type)[0],
      required_target_fields: names(targets),
      required_credentials: names(credentials),
    }));
    const builtIn = registry.items
      .filter((t: { integration_type: string }) => ['xledger', 'dynamics', 'hlf_portal'].includes(t.integration_type))
      .map(({ integration_type, required_target_fields, required_credentials }: Record<string, unknown>) => ({ integration_type, required_target_fields, required_credentials }));
    expect(documented).toEqual(builtIn);
    // and the source suggested for each target is one the type has.
    for (const [type, targets, sources] of rows) {
      const definition = registry.items.find((t: { integration_type: string }) => t.integration_type === names(type)[0]);
      expect(names(sources)).toHaveLength(names(targets).length);
      for (const source of names(sources)) expect(definition.source_fields.map((f: { name: string }) => f.name)).toContain(source);
    }
  });

  it('runs every bash block in order against the service; each step answers as the doc says', async () => {
    const blocks = bashBlocks(markdown);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    const calls = join(dir, 'calls');
    mkdirSync(calls);
    const script = ['set -euo pipefail', RECORDING_CURL, ...blocks].join('\n');
    writeFileSync(join(dir, 'walkthrough.sh'), script);
    const run = await runBash(script, {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? dir,
      BASE: base,
      WALK_CALLS: calls,
      // What `npm run token` signs with: the server's secret.
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      DATA_DIR: join(dir, 'data'),
      NODE_ENV: 'development',
    });
    if (run.code !== 0)
      throw new Error(
        `the walkthrough stopped (exit ${run.code}):\n${run.stderr}\n--- stdout:\n${run.stdout}\n--- service:\n${(service?.stdout() ?? '') + (service?.stderr() ?? '')}`,
      );

    const steps = recordedCalls(calls);
    const org = '/v1/organizations/{uuid}/integrations';
    expect(steps.map((s) => `${s.route} ${s.status}`)).toEqual([
      'GET /v1/integration-types 200',
      `POST ${org} 201`,
      `POST ${org}/{uuid}/field-mappings/bulk 201`,
      `GET ${org}/{uuid}/field-mappings/coverage 200`,
      `POST ${org}/{uuid}/field-mappings/preview 200`,
      `POST ${org}/{uuid}/exports/preview 200`,
      `POST ${org}/{uuid}/exports 201`,
      `GET ${org}/{uuid}/exports/{uuid} 200`,
      `POST ${org}/{uuid}/sync-runs 201`,
      `GET ${org}/{uuid}/sync-runs 200`,
      `POST ${org}/{uuid}/webhook-secret 201`,
      'POST /v1/webhooks/{uuid} 202',
      'POST /v1/webhooks/{uuid} 200',
      `GET ${org}/{uuid}/webhook-events 200`,
    ]);
    const [registry, config, mappings, coverage, mappingPreview, exportPreview, exported, readBack, syncRun, syncRuns, secret, webhook, duplicate, events] = steps.map(
      (s) => s.body,
    );

    const xledger = registry.items.find((t: { integration_type: string }) => t.integration_type === 'xledger');
    expect(config).toMatchObject({ id: expect.stringMatching(UUID), integration_type: 'xledger', enabled: true, has_api_key: true });
    expect(steps[1].text).not.toContain('xl-dev-key');
    expect(run.stdout).toContain(`config ${config.id}`);
    expect(mappings.items.map((m: { target_field: string }) => m.target_field)).toEqual(xledger.required_target_fields);
    expect(coverage).toEqual({ complete: true, missing_target_fields: [], warnings: [] });
    expect(mappingPreview).toEqual({
      output: { Amount: '120.50', TransactionDate: '2026-11-20', AccountCode: '4001' },
      skipped_reason: null,
      warnings: ['record_accounting_code_ignored:AccountCode'],
    });
    const rows = [
      { index: 0, claim_id: 'c1', output: { Amount: '120.50', TransactionDate: '2026-11-20', AccountCode: '4001' } },
      { index: 1, claim_id: 'c2', output: { Amount: '80.00', TransactionDate: '2026-11-21', AccountCode: '4999' } },
    ];
    expect(exportPreview).toEqual({ rows, skipped: [], warnings: [] });
    expect(rows.map((r) => Object.keys(r.output))).toEqual(exportPreview.rows.map((r: { output: object }) => Object.keys(r.output)));
    expect(exported).toMatchObject({
      status: 'completed',
      row_count: 2,
      skipped_count: 0,
      rows,
      mappings_used: mappings.items.map((m: { id: string }) => ({ mapping_id: m.id, version: 1 })),
    });
    expect(steps[7].text).toBe(steps[6].text);
    expect(readBack.id).toBe(exported.id);
    expect(syncRun).toMatchObject({ integration_id: config.id, status: 'success', records_pushed: 2, error: null });
    expect(syncRuns.items).toEqual([syncRun]);
    expect(secret.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(run.stdout).not.toContain(secret.webhook_secret);
    expect(webhook).toEqual({ id: expect.stringMatching(UUID), duplicate: false });
    expect(duplicate).toEqual({ duplicate: true });
    expect(events.items).toEqual([
      expect.objectContaining({
        id: webhook.id,
        webhook_id: expect.stringMatching(/^msg_/),
        signature_scheme: 'standard_webhooks',
        payload: '{"type":"expense.approved","data":{"claim_id":"c1"}}',
      }),
    ]);
  });
});
