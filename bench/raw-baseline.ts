// The physical limit of this stack for the benchmark's scenarios: plain node:http + pg doing the
// same work as the service (the same JWT verification, by the service's own TokenVerifier; the
// very SQL statements the services export; the same response mapping and signature check),
// without Nest, TypeORM, validation pipes, guards or logging.
// Started by bench/http-scenarios.bench.ts in a process of its own; prints `listening <port>`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { TokenVerifier } from '../src/auth/token-verifier';
import { Keyring } from '../src/crypto/keyring';
import { SecretCipher } from '../src/crypto/secret-cipher';
import { MAPPING_VIEWS_SQL } from '../src/field-mapping/field-mapping.repository';
import { toConfigResponse } from '../src/integration-config/integration-config.mapper';
import { CONFIG_BY_ID_SQL, CONFIGS_OF_ORG_SQL, WEBHOOK_CONFIG_SQL } from '../src/integration-config/integration-config.repository';
import { verifyStandardWebhook } from '../src/webhooks/signatures';
import { WEBHOOK_EVENT_INSERT_SQL } from '../src/webhooks/webhook-event.repository';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
// The service's own token check (jose, the HMAC key imported once), with its verdict cache as
// AUTH_TOKEN_CACHE_SIZE sets it for both sides: the same JWT verification cost on both sides.
const tokens = new TokenVerifier({
  secret: process.env.AUTH_JWT_SECRET,
  verdicts: { maxEntries: process.env.AUTH_TOKEN_CACHE_SIZE === undefined ? undefined : Number(process.env.AUTH_TOKEN_CACHE_SIZE) },
});
const cipher = new SecretCipher(Keyring.parse(process.env.ENCRYPTION_KEYS ?? ''));

const CONFIG_ROUTE = /^\/v1\/organizations\/([0-9a-f-]{36})\/integrations(?:\/([0-9a-f-]{36}))?$/;
const WEBHOOK_ROUTE = /^\/v1\/webhooks\/([0-9a-f-]{36})$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function authorize(req: IncomingMessage, orgId: string): Promise<boolean> {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!match) return false;
  // As the service's guard: a remembered verdict without awaiting, else the full check.
  const pending = tokens.principalOf(match[1]);
  const principal = pending instanceof Promise ? await pending : pending;
  return principal.role === 'org_admin' && principal.orgId === orgId;
}

async function mappingViews(orgId: string, ids: string[]): Promise<Map<string, Record<string, string>>> {
  const views = new Map<string, Record<string, string>>(ids.map((id) => [id, {}]));
  const { rows } = await pool.query(MAPPING_VIEWS_SQL, [orgId, ids]);
  for (const m of rows) views.get(m.integration_id)![m.source_field] = m.target_field;
  return views;
}

async function configs(req: IncomingMessage, res: ServerResponse, orgId: string, id: string | undefined): Promise<void> {
  if (!(await authorize(req, orgId))) return send(res, 401, { code: 'unauthorized' });
  if (id) {
    const { rows } = await pool.query(CONFIG_BY_ID_SQL, [orgId, id]);
    if (rows.length === 0) return send(res, 404, { code: 'not_found' });
    const views = await mappingViews(orgId, [id]);
    res.setHeader('ETag', `"${rows[0].revision}"`);
    return send(res, 200, toConfigResponse(rows[0], views.get(id)!));
  }
  const { rows } = await pool.query(CONFIGS_OF_ORG_SQL, [orgId]);
  const views = await mappingViews(
    orgId,
    rows.map((r) => r.id),
  );
  return send(res, 200, { items: rows.map((r) => toConfigResponse(r, views.get(r.id)!)), next_cursor: null });
}

async function webhook(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const { rows } = await pool.query(WEBHOOK_CONFIG_SQL, [id]);
  if (rows.length === 0) return send(res, 404, { code: 'not_found' });
  const config = rows[0];
  const secret = cipher.decrypt(config.webhook_secret_encrypted, { table: 'integration_configs', column: 'webhook_secret_encrypted', rowId: config.id });
  const verification = verifyStandardWebhook(body, req.headers, [secret]);
  if (!verification.ok) return send(res, 401, { code: 'unauthorized' });
  const inserted = await pool.query(WEBHOOK_EVENT_INSERT_SQL, [
    config.organization_id,
    config.id,
    verification.webhookId,
    verification.scheme,
    body,
    req.headers['content-type'] ?? null,
  ]);
  return inserted.rows.length > 0 ? send(res, 202, { id: inserted.rows[0].id, duplicate: false }) : send(res, 200, { duplicate: true });
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const route = CONFIG_ROUTE.exec(url);
  const hook = WEBHOOK_ROUTE.exec(url);
  const work =
    req.method === 'GET' && route
      ? configs(req, res, route[1], route[2])
      : req.method === 'POST' && hook
        ? webhook(req, res, hook[1])
        : Promise.resolve(send(res, 404, { code: 'not_found' }));
  work.catch(() => send(res, 500, { code: 'internal_error' }));
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
