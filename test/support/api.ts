import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import type { TestApp } from './test-app';

export interface ApiCall {
  method: string;
  path: string;
  status: number;
  text: string;
  headers: Record<string, string>;
}

/**
 * A small JSON client over the test app that remembers every response, so a suite can assert
 * things about all of them at once (no secret in any response).
 */
export function apiClient(t: TestApp): ApiClient {
  const seen: ApiCall[] = [];
  const call = async (
    method: 'get' | 'post' | 'patch' | 'put' | 'delete',
    path: string,
    token: string | null,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> => {
    let req = t.http[method](path);
    if (token) req = req.set('Authorization', `Bearer ${token}`);
    for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
    const res = body === undefined ? await req : await req.send(body as object);
    seen.push({ method, path, status: res.status, text: res.text ?? '', headers: res.headers as Record<string, string> });
    return res;
  };
  return {
    seen,
    get: (path: string, token: string | null, headers?: Record<string, string>) => call('get', path, token, undefined, headers),
    post: (path: string, token: string | null, body?: unknown, headers?: Record<string, string>) => call('post', path, token, body ?? {}, headers),
    patch: (path: string, token: string | null, body: unknown, headers?: Record<string, string>) => call('patch', path, token, body, headers),
    put: (path: string, token: string | null, body: unknown, headers?: Record<string, string>) => call('put', path, token, body, headers),
    delete: (path: string, token: string | null, headers?: Record<string, string>) => call('delete', path, token, undefined, headers),
  };
}

type Call = (path: string, token: string | null, headers?: Record<string, string>) => Promise<Response>;
type CallWithBody = (path: string, token: string | null, body: unknown, headers?: Record<string, string>) => Promise<Response>;

/** Declared, not inferred: an inferred type names supertest's Response by the path it was found at (TS2883 in a clone whose node_modules is a link). */
export interface ApiClient {
  seen: ApiCall[];
  get: Call;
  post: (path: string, token: string | null, body?: unknown, headers?: Record<string, string>) => Promise<Response>;
  patch: CallWithBody;
  put: CallWithBody;
  delete: Call;
}

export function expectProblem(res: Response, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
}

export const rulesOf = (res: Response): string[] => (res.body.errors ?? []).map((e: { field: string; rule: string }) => `${e.field}:${e.rule}`);

/** An enabled HLF portal config (OAuth client credentials); `webhookSecret` also sets it up for inbound webhooks. */
export function hlfPortalConfig(webhookSecret?: string): Record<string, unknown> {
  return {
    integration_type: 'hlf_portal',
    display_name: 'HLF',
    base_url: 'https://hlf.example',
    client_id: 'c',
    client_secret: 's',
    enabled: true,
    extra_config: { entity_set: 'cr123_expenses', alternate_key: 'cr123_meanderreference', tenant_id: 'hlf.onmicrosoft.com' },
    ...(webhookSecret ? { webhook_secret: webhookSecret, webhook_url: 'https://hlf.example/hooks' } : {}),
  };
}

/** An Xledger config with its API key, enabled unless `extra` says otherwise. */
export function xledgerConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'xl-key-0123456789abcdef', enabled: true, ...extra };
}

/** Mappings that cover an Xledger export's required target fields (the two defaults fill what a claim leaves out). */
export const XLEDGER_EXPORT_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
  { source_field: 'cost_center', target_field: 'CostCenter', is_required: true, default_value: 'CC0' },
];

/** An expense claim of its own id, travel by car, with `overrides`. */
export function expenseClaim(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20', ...overrides };
}
