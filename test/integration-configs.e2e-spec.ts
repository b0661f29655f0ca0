import { randomBytes, randomUUID } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { SecretCipher } from '../src/crypto/secret-cipher';
import { EXTRA_INTEGRATION_TYPES } from '../src/integration-types/integration-type.registry';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../src/integration-types/built-in-types';
import { apiClient, expectProblem, hlfPortalConfig, rulesOf, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const API_KEY = `xl-api-key-${randomBytes(8).toString('hex')}`;
const CLIENT_SECRET = `dyn-client-secret-${randomBytes(8).toString('hex')}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const PLAINTEXTS = [API_KEY, CLIENT_SECRET, WEBHOOK_SECRET];

// An importing service registers one more type (the registry is extensible).
@Global()
@Module({
  providers: [
    {
      provide: EXTRA_INTEGRATION_TYPES,
      useValue: [
        {
          integration_type: 'visma_net',
          display_name: 'Visma.net',
          required_credentials: ['api_key'],
          required_target_fields: ['Amount'],
          source_fields: [...EXPENSE_CLAIM_SOURCE_FIELDS],
        },
      ],
    },
  ],
  exports: [EXTRA_INTEGRATION_TYPES],
})
class ExtraTypesModule {}

describe('integration configs (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  const orgA = newOrgId();
  const orgB = newOrgId();
  let adminA: string;
  let adminB: string;
  let globalAdmin: string;
  let syncService: string;
  const base = (org: string) => `/v1/organizations/${org}/integrations`;
  const xledger = { integration_type: 'xledger', display_name: 'Xledger production', base_url: 'https://api.xledger.example/graphql', api_key: API_KEY };

  beforeAll(async () => {
    t = await startTestApp({ captureLogs: true, imports: [ExtraTypesModule] });
    api = apiClient(t);
    [adminA, adminB, globalAdmin, syncService] = await Promise.all([t.token('org_admin', orgA), t.token('org_admin', orgB), t.token('global_admin'), t.token('sync_service')]);
  });
  afterAll(() => t.close());

  async function createConfig(org: string, token: string, body: Record<string, unknown>) {
    const res = await api.post(base(org), token, body);
    expect(res.status).toBe(201);
    return res.body as { id: string; revision: number } & Record<string, unknown>;
  }

  describe('registry', () => {
    it('lists the built-in types exactly as API.md, plus registered ones', async () => {
      const res = await api.get('/v1/integration-types', syncService);
      expect(res.status).toBe(200);
      const byType = Object.fromEntries(res.body.items.map((i: { integration_type: string }) => [i.integration_type, i]));
      expect(byType.xledger).toMatchObject({ required_credentials: ['api_key'], required_target_fields: ['Amount', 'TransactionDate', 'AccountCode'] });
      expect(byType.dynamics).toMatchObject({
        required_credentials: ['client_id', 'client_secret', 'tenant_id'],
        required_target_fields: ['ExpenseAmount', 'ExpenseDate', 'ContactId'],
      });
      expect(byType.hlf_portal).toMatchObject({ required_credentials: ['client_id', 'client_secret'], required_target_fields: ['ActivityDate', 'PeerMentorId'] });
      expect(byType.visma_net).toBeDefined();
      const fields = byType.xledger.source_fields;
      expect(fields).toHaveLength(20);
      expect(fields[0]).toEqual({ name: 'claim_id', type: 'uuid', non_null: true, path: null, derived_from: null });
      expect(fields.find((f: { name: string }) => f.name === 'km_distance')).toEqual({
        name: 'km_distance',
        type: 'number',
        non_null: false,
        path: 'expense_line.km_distance',
        derived_from: null,
      });
      expect(fields.find((f: { name: string }) => f.name === 'passenger_count')).toEqual({
        name: 'passenger_count',
        type: 'integer',
        non_null: false,
        path: 'expense_line.passenger_count',
        derived_from: null,
      });
    });

    it('accepts a config of a registered type (the database knows it too)', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await createConfig(org, token, { integration_type: 'visma_net', display_name: 'Visma' });
      const read = await api.get(`${base(org)}/${created.id}`, token);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: created.id, integration_type: 'visma_net', display_name: 'Visma' });
      // Stored under that type, which the database's mirror of the registry (integration_types) holds too.
      const rows = await t.dataSource.query(`SELECT c.integration_type FROM integration_configs c JOIN integration_types t USING (integration_type) WHERE c.id = $1`, [created.id]);
      expect(rows).toEqual([{ integration_type: 'visma_net' }]);
    });
  });

  describe('create and read', () => {
    it('creates a config: 201, ETag, write-only secrets shown as has_*', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const res = await api.post(base(org), token, {
        ...xledger,
        accounting_code_mappings: { travel_km: '4001', toll: '4002' },
        extra_config: { company_code: '1001' },
        sync_frequency: 'daily',
      });
      expect(res.status).toBe(201);
      expect(res.headers.etag).toBe('"1"');
      expect(res.body).toMatchObject({
        organization_id: org,
        integration_type: 'xledger',
        display_name: 'Xledger production',
        enabled: false,
        base_url: 'https://api.xledger.example/graphql',
        client_id: null,
        tenant_id: null,
        has_api_key: true,
        has_client_secret: false,
        has_webhook_secret: false,
        field_mappings: {},
        accounting_code_mappings: { travel_km: '4001', toll: '4002' },
        sync_frequency: 'daily',
        last_sync_at: null,
        last_sync_status: null,
        last_sync_error: null,
        last_success_at: null,
        webhook_url: null,
        extra_config: { company_code: '1001' },
        revision: 1,
        updated_by: null,
      });
      expect(res.body).not.toHaveProperty('api_key');
      expect(res.body).not.toHaveProperty('api_key_encrypted');
      expect(Object.keys(res.body).sort()).toEqual([
        'accounting_code_mappings',
        'base_url',
        'client_id',
        'created_at',
        'created_by',
        'display_name',
        'enabled',
        'extra_config',
        'field_mappings',
        'has_api_key',
        'has_client_secret',
        'has_webhook_secret',
        'id',
        'integration_type',
        'last_success_at',
        'last_sync_at',
        'last_sync_error',
        'last_sync_status',
        'organization_id',
        'paused',
        'paused_at',
        'revision',
        'sync_frequency',
        'tenant_id',
        'updated_at',
        'updated_by',
        'webhook_url',
      ]);
      const read = await api.get(`${base(org)}/${res.body.id}`, token);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('"1"');
      expect(read.body).toEqual(res.body);
      const list = await api.get(base(org), token);
      expect(list.body).toEqual({ items: [res.body], next_cursor: null });
    });

    it('stores secrets only as AES-256-GCM envelopes bound to the row and column', async () => {
      const org = newOrgId();
      const config = await createConfig(org, await t.token('org_admin', org), xledger);
      const [row] = await t.dataSource.query(`SELECT api_key_encrypted FROM integration_configs WHERE organization_id = $1 AND id = $2`, [org, config.id]);
      expect(row.api_key_encrypted).toMatch(/^enc:v1:test1:/);
      expect(row.api_key_encrypted).not.toContain(API_KEY);
      const cipher = t.app.get(SecretCipher);
      expect(cipher.decrypt(row.api_key_encrypted, { table: 'integration_configs', column: 'api_key_encrypted', rowId: config.id })).toBe(API_KEY);
      expect(() => cipher.decrypt(row.api_key_encrypted, { table: 'integration_configs', column: 'client_secret_encrypted', rowId: config.id })).toThrow();
    });

    it('has the database refuse plaintext in a *_encrypted column', async () => {
      const org = newOrgId();
      const config = await createConfig(org, await t.token('org_admin', org), xledger);
      for (const column of ['api_key_encrypted', 'client_secret_encrypted', 'webhook_secret_encrypted', 'previous_webhook_secret_encrypted', 'older_webhook_secret_encrypted']) {
        await expect(t.dataSource.query(`UPDATE integration_configs SET ${column} = 'plaintext' WHERE id = $1`, [config.id])).rejects.toMatchObject({
          driverError: { code: '23514' },
        });
      }
    });
  });

  describe('validation rules (400, every failing field at once)', () => {
    it('reports each seed rule by name', async () => {
      const res = await api.post(base(orgA), adminA, {
        integration_type: 'sap',
        display_name: '   ',
        base_url: 'http://insecure.example',
        webhook_url: 'ftp://x',
        field_mappings: ['expense_amount'],
        accounting_code_mappings: { 'Travel-Km': '4001' },
        extra_config: 'nope',
        sync_frequency: 'hourlyish',
        webhook_secret: 'whsec_dG9vc2hvcnQ=',
        api_key_encrypted: 'enc:v1:x',
        client_secret_encrypted: 'x',
        webhook_secret_encrypted: 'x',
      });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res).sort()).toEqual([
        'accounting_code_mappings:field_mappings_must_be_valid_json_object',
        'api_key_encrypted:encrypted_fields_must_not_be_stored_in_plaintext',
        'base_url:base_url_must_be_https',
        'client_secret_encrypted:encrypted_fields_must_not_be_stored_in_plaintext',
        'display_name:display_name_not_empty',
        'extra_config:field_mappings_must_be_valid_json_object',
        'field_mappings:field_mappings_must_be_valid_json_object',
        'integration_type:integration_type_must_be_known_value',
        'sync_frequency:sync_frequency_must_be_known_value',
        'webhook_secret:webhook_secret_format',
        'webhook_secret_encrypted:encrypted_fields_must_not_be_stored_in_plaintext',
        'webhook_url:base_url_must_be_https',
      ]);
    });

    it('checks the edges of each rule', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ display_name: 'x'.repeat(201) }, 'display_name:display_name_not_empty'],
        [{ field_mappings: { expense_amount: '' } }, 'field_mappings:field_mappings_must_be_valid_json_object'],
        [{ field_mappings: { expense_amount: 7 } }, 'field_mappings:field_mappings_must_be_valid_json_object'],
        [{ field_mappings: null }, 'field_mappings:field_mappings_must_be_valid_json_object'],
        [{ extra_config: [1, 2] }, 'extra_config:field_mappings_must_be_valid_json_object'],
        [{ webhook_secret: `whsec_${randomBytes(16).toString('base64')}` }, 'webhook_secret:webhook_secret_format'],
        [{ webhook_secret: `whsec_${randomBytes(65).toString('base64')}` }, 'webhook_secret:webhook_secret_format'],
        [{ webhook_secret: randomBytes(32).toString('base64') }, 'webhook_secret:webhook_secret_format'],
        [{ base_url: 'https://user:pw@host.example' }, 'base_url:base_url_must_be_https'],
        [{ base_url: 'not a url' }, 'base_url:base_url_must_be_https'],
        // What new URL() would mend but the stored text (and the table's CHECK) would keep: refused, not a 500.
        ...['HTTPS://host.example/x', ' https://host.example/x', 'https:host.example', 'https://host.example/x ', 'https://host.example\t/x'].map(
          (base_url): [Record<string, unknown>, string] => [{ base_url }, 'base_url:base_url_must_be_https'],
        ),
        [{ surprise: true }, 'surprise:unknown_field'],
      ];
      for (const [extra, expected] of cases) {
        const res = await api.post(base(orgA), adminA, { integration_type: 'hlf_portal', display_name: 'HLF', ...extra });
        expect({ body: extra, status: res.status, rules: rulesOf(res) }).toEqual({ body: extra, status: 400, rules: [expected] });
      }
    });

    it('field_mappings_must_be_valid_json_object: refuses lowercase keys that are not snake_case in accounting_code_mappings and field_mappings', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { integration_type: 'xledger', display_name: 'X', accounting_code_mappings: { travel_km: '4001' } });
      for (const key of ['expense-amount', 'expense__amount', 'expense_', '1st_field', '_x']) {
        for (const field of ['accounting_code_mappings', 'field_mappings']) {
          const body = { [field]: { [key]: 'Value' } };
          const created = await api.post(base(org), token, { integration_type: 'dynamics', display_name: 'D', ...body });
          expect({ body, status: created.status, rules: rulesOf(created) }).toEqual({ body, status: 400, rules: [`${field}:field_mappings_must_be_valid_json_object`] });
          const patched = await api.patch(`${base(org)}/${config.id}`, token, body);
          expect({ body, status: patched.status, rules: rulesOf(patched) }).toEqual({ body, status: 400, rules: [`${field}:field_mappings_must_be_valid_json_object`] });
        }
      }
      // Refused means nothing stored: no second config, the first one as it was.
      expect((await api.get(base(org), token)).body.items).toHaveLength(1);
      expect((await api.get(`${base(org)}/${config.id}`, token)).body).toMatchObject({
        accounting_code_mappings: { travel_km: '4001' },
        field_mappings: {},
        revision: config.revision,
      });
    });

    it('refuses integration_type on PATCH and null for required fields', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { integration_type: 'hlf_portal', display_name: 'HLF' });
      const res = await api.patch(`${base(org)}/${config.id}`, token, { integration_type: 'xledger', display_name: null, sync_frequency: null });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res).sort()).toEqual([
        'display_name:display_name_not_empty',
        'integration_type:integration_type_cannot_change',
        'sync_frequency:sync_frequency_must_be_known_value',
      ]);
    });

    it('sync_time_zone_must_be_iana_zone: refuses a schedule zone the runtime does not know, on create and PATCH', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      // '+05:30': an offset, no IANA zone (Node 22's Intl takes it, Node 20's does not: refused on both).
      const bad = ['Europe/Olso', '', 'UTC+1', '+05:30', 'Mars/Olympus', 42, ['Europe/Oslo'], { zone: 'Europe/Oslo' }];
      const refused = (res: Awaited<ReturnType<ApiClient['post']>>, zone: unknown) => {
        expectProblem(res, 400, 'validation_failed');
        expect({ zone, errors: res.body.errors }).toEqual({
          zone,
          errors: [{ field: 'extra_config.sync_time_zone', rule: 'sync_time_zone_must_be_iana_zone', message: expect.stringContaining('IANA') }],
        });
      };
      for (const zone of bad) {
        refused(await api.post(base(org), token, { integration_type: 'xledger', display_name: 'X', sync_frequency: 'daily', extra_config: { sync_time_zone: zone } }), zone);
      }
      expect((await api.get(base(org), token)).body.items).toHaveLength(0);
      const config = await createConfig(org, token, { integration_type: 'xledger', display_name: 'X', sync_frequency: 'daily', extra_config: { sync_time_zone: 'Europe/Oslo' } });
      const path = `${base(org)}/${config.id}`;
      for (const zone of bad) refused(await api.patch(path, token, { extra_config: { company_code: '1001', sync_time_zone: zone } }), zone);
      expect((await api.get(path, token)).body).toMatchObject({ extra_config: { sync_time_zone: 'Europe/Oslo' }, revision: config.revision });
      // What Intl takes is taken as sent: aliases, UTC, any case; and leaving it out means UTC.
      for (const zone of ['UTC', 'Etc/UTC', 'Asia/Calcutta', 'america/santiago', 'Australia/Lord_Howe']) {
        const res = await api.patch(path, token, { extra_config: { sync_time_zone: zone } });
        expect({ zone, status: res.status, extra_config: res.body.extra_config }).toEqual({ zone, status: 200, extra_config: { sync_time_zone: zone } });
      }
      expect((await api.patch(path, token, { extra_config: {} })).status).toBe(200);
      expect((await api.patch(path, token, { extra_config: { sync_time_zone: null } })).status).toBe(200);
      // One stored before the rule (counted as UTC) blocks no change that leaves extra_config alone.
      await t.dataSource.query(`UPDATE integration_configs SET extra_config = '{"sync_time_zone": "Europe/Olso"}' WHERE id = $1`, [config.id]);
      expect((await api.patch(path, token, { display_name: 'Renamed' })).status).toBe(200);
      refused(await api.patch(path, token, { extra_config: { sync_time_zone: 'Europe/Olso' } }), 'Europe/Olso');
    });
  });

  describe('one_config_per_integration_type_per_org', () => {
    it('refuses a second config of a type with 409 naming the existing id; other orgs and types are free', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const first = await createConfig(org, token, xledger);
      const second = await api.post(base(org), token, { ...xledger, display_name: 'again' });
      expectProblem(second, 409, 'one_config_per_integration_type_per_org');
      expect(second.body.detail).toContain(first.id);
      await createConfig(org, token, { integration_type: 'dynamics', display_name: 'D365' });
      const otherOrg = newOrgId();
      await createConfig(otherOrg, await t.token('org_admin', otherOrg), xledger);
    });

    it('lets exactly one of 20 concurrent creates win', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(base(org), token, { ...xledger, display_name: `racer ${i}` })));
      const created = results.filter((r) => r.status === 201);
      expect(created).toHaveLength(1);
      const refused = results.filter((r) => r.status === 409);
      expect(refused).toHaveLength(19);
      for (const r of refused) {
        expect(r.body.code).toBe('one_config_per_integration_type_per_org');
        expect(r.body.detail).toContain(created[0].body.id);
      }
      const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM integration_configs WHERE organization_id = $1`, [org]);
      expect(count).toBe(1);
    });
  });

  describe('credentials_required_before_enable', () => {
    it('lists every missing credential of the type (and base_url)', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const res = await api.post(base(org), token, { integration_type: 'dynamics', display_name: 'D365', enabled: true, client_id: 'abc' });
      expectProblem(res, 422, 'credentials_required_before_enable');
      expect(rulesOf(res).sort()).toEqual([
        'base_url:credentials_required_before_enable',
        'client_secret:credentials_required_before_enable',
        'extra_config.alternate_key:credentials_required_before_enable',
        'extra_config.entity_set:credentials_required_before_enable',
        'tenant_id:credentials_required_before_enable',
      ]);
      // Where the connector writes: required too, and a blank name is none (API.md "What goes on the wire").
      const complete = {
        integration_type: 'dynamics',
        display_name: 'D365',
        enabled: true,
        client_id: 'abc',
        client_secret: CLIENT_SECRET,
        tenant_id: 't',
        base_url: 'https://d365.example',
      };
      const blank = await api.post(base(org), token, { ...complete, extra_config: { entity_set: ' ', alternate_key: 'cr123_ref' } });
      expectProblem(blank, 422, 'credentials_required_before_enable');
      expect(rulesOf(blank)).toEqual(['extra_config.entity_set:credentials_required_before_enable']);
      const ok = await api.post(base(org), token, { ...complete, extra_config: { entity_set: 'msdyn_expenses', alternate_key: 'cr123_ref' } });
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ enabled: true, has_client_secret: true });
      // client_id too: everything else given, dynamics and hlf_portal are refused without it (on PATCH too).
      const withoutClientId: Record<string, unknown>[] = [
        { ...complete, extra_config: { entity_set: 'msdyn_expenses', alternate_key: 'cr123_ref' }, client_id: undefined },
        { ...hlfPortalConfig(), client_id: undefined },
      ];
      const other = newOrgId();
      const otherToken = await t.token('org_admin', other);
      for (const body of withoutClientId) {
        const refused = await api.post(base(other), otherToken, body);
        expectProblem(refused, 422, 'credentials_required_before_enable');
        expect({ type: body.integration_type, errors: refused.body.errors }).toEqual({
          type: body.integration_type,
          errors: [expect.objectContaining({ field: 'client_id', rule: 'credentials_required_before_enable' })],
        });
        const disabled = await createConfig(other, otherToken, { ...body, enabled: false });
        const enable = await api.patch(`${base(other)}/${disabled.id}`, otherToken, { enabled: true });
        expectProblem(enable, 422, 'credentials_required_before_enable');
        expect(rulesOf(enable)).toEqual(['client_id:credentials_required_before_enable']);
      }
    });

    it('credentials_required_for_new_base_url: a stored secret never follows base_url to another origin', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await api.post(base(org), token, {
        integration_type: 'xledger',
        display_name: 'X',
        base_url: 'https://x.example/graphql',
        api_key: 'xl-key-0123456789abcdef',
      });
      const path = `${base(org)}/${created.body.id}`;
      // Another origin (disabled or not): the key must come with it, or be cleared.
      for (const url of ['https://attacker.example/graphql', 'https://x.example:8443/graphql', 'https://X.example.evil/graphql']) {
        const moved = await api.patch(path, token, { base_url: url });
        expectProblem(moved, 422, 'credentials_required_for_new_base_url');
        expect(rulesOf(moved)).toEqual(['api_key:credentials_required_for_new_base_url']);
        // Another port of the same host is another origin too: the answer must not say "host" only.
        expect(moved.body.detail).toBe('A base_url on another origin needs the credentials again: api_key.');
        expect(moved.body.errors[0].message).toBe('base_url now points at another origin (scheme, host or port): give api_key again (or null to clear it) in the same request');
      }
      expect((await api.get(path, token)).body).toMatchObject({ base_url: 'https://x.example/graphql', has_api_key: true, revision: created.body.revision });
      // The same host, another path: nothing leaves for anywhere new.
      expect((await api.patch(path, token, { base_url: 'https://x.example/v2/graphql' })).status).toBe(200);
      expect((await api.patch(path, token, { base_url: 'https://new.example/graphql', api_key: 'xl-key-for-the-new-host-0123' })).status).toBe(200);
      const cleared = await api.patch(path, token, { base_url: 'https://third.example/graphql', api_key: null });
      expect(cleared.body).toMatchObject({ base_url: 'https://third.example/graphql', has_api_key: false });
      // A Dataverse config: its client secret (the access token it buys goes to base_url).
      const dynamics = await api.post(base(org), token, {
        integration_type: 'dynamics',
        display_name: 'D',
        base_url: 'https://org.crm4.dynamics.com',
        client_id: 'c',
        client_secret: CLIENT_SECRET,
        tenant_id: 't',
      });
      const moved = await api.patch(`${base(org)}/${dynamics.body.id}`, token, { base_url: 'https://org.attacker.example' });
      expect(rulesOf(moved)).toEqual(['client_secret:credentials_required_for_new_base_url']);
    });

    it('hlf_portal: its tenant (extra_config.tenant_id) too, without which no token can be had', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const withoutTenant = { ...hlfPortalConfig(), extra_config: { entity_set: 'cr123_expenses', alternate_key: 'cr123_ref' } };
      const res = await api.post(base(org), token, withoutTenant);
      expectProblem(res, 422, 'credentials_required_before_enable');
      expect(rulesOf(res)).toEqual(['extra_config.tenant_id:credentials_required_before_enable']);
      // Disabled, it may wait for it; enabling asks again.
      const saved = await api.post(base(org), token, { ...withoutTenant, enabled: false });
      expect(saved.status).toBe(201);
      const enable = await api.patch(`${base(org)}/${saved.body.id}`, token, { enabled: true });
      expect(rulesOf(enable)).toEqual(['extra_config.tenant_id:credentials_required_before_enable']);
      const withTenant = await api.patch(`${base(org)}/${saved.body.id}`, token, {
        enabled: true,
        extra_config: { ...withoutTenant.extra_config, tenant_id: 'hlf.onmicrosoft.com' },
      });
      expect(withTenant.status).toBe(200);
    });

    it('dataverse_names_must_be_schema_names: refuses names that would change the request URL, enabled or not', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await createConfig(org, token, { integration_type: 'dynamics', display_name: 'D365', extra_config: { entity_set: 'msdyn_expenses' } });
      const res = await api.patch(`${base(org)}/${created.id}`, token, {
        extra_config: { entity_set: "msdyn_expenses(x='1')", alternate_key: 'key/../x', columns: { ExpenseAmount: 'msdyn_amount', Amount: 'a' } },
      });
      expectProblem(res, 422, 'dataverse_names_must_be_schema_names');
      expect(rulesOf(res)).toEqual([
        'extra_config.entity_set:dataverse_names_must_be_schema_names',
        'extra_config.alternate_key:dataverse_names_must_be_schema_names',
        'extra_config.columns.Amount:dataverse_names_must_be_schema_names',
      ]);
      expect((await api.get(`${base(org)}/${created.id}`, token)).body.extra_config).toEqual({ entity_set: 'msdyn_expenses' });
      // Xledger reads none of these names: its extra_config is its own.
      expect((await api.post(base(org), token, { integration_type: 'xledger', display_name: 'X', extra_config: { entity_set: 'a/b' } })).status).toBe(201);
    });

    it('refuses enabling by PATCH, and clearing a required credential or base_url of an enabled config', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const bare = await createConfig(org, token, { integration_type: 'xledger', display_name: 'X' });
      const enable = await api.patch(`${base(org)}/${bare.id}`, token, { enabled: true });
      expectProblem(enable, 422, 'credentials_required_before_enable');
      expect(rulesOf(enable).sort()).toEqual(['api_key:credentials_required_before_enable', 'base_url:credentials_required_before_enable']);

      const enabled = await api.patch(`${base(org)}/${bare.id}`, token, { enabled: true, api_key: API_KEY, base_url: 'https://x.example' });
      expect(enabled.status).toBe(200);
      for (const clear of [{ api_key: null }, { base_url: null }]) {
        const res = await api.patch(`${base(org)}/${bare.id}`, token, clear);
        expectProblem(res, 422, 'credentials_required_before_enable');
        // Refused means untouched.
        expect((await api.get(`${base(org)}/${bare.id}`, token)).body).toMatchObject({
          enabled: true,
          has_api_key: true,
          base_url: 'https://x.example',
          revision: enabled.body.revision,
        });
      }
      // Disabling and clearing together is fine.
      const cleared = await api.patch(`${base(org)}/${bare.id}`, token, { enabled: false, api_key: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body).toMatchObject({ enabled: false, has_api_key: false });
    });
  });

  describe('webhook secrets', () => {
    it('webhook_secret_required_for_inbound_webhooks: a webhook_url needs a secret, which cannot then be cleared', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const refused = await api.post(base(org), token, { ...xledger, webhook_url: 'https://hooks.example/in' });
      expectProblem(refused, 422, 'webhook_secret_required_for_inbound_webhooks');
      const config = await createConfig(org, token, { ...xledger, webhook_url: 'https://hooks.example/in', webhook_secret: WEBHOOK_SECRET });
      expect(config.has_webhook_secret).toBe(true);
      const clear = await api.patch(`${base(org)}/${config.id}`, token, { webhook_secret: null });
      expectProblem(clear, 422, 'webhook_secret_required_for_inbound_webhooks');
      const both = await api.patch(`${base(org)}/${config.id}`, token, { webhook_secret: null, webhook_url: null });
      expect(both.status).toBe(200);
      expect(both.body).toMatchObject({ has_webhook_secret: false, webhook_url: null });
    });

    it('POST /webhook-secret returns a fresh secret once and keeps the previous one for 24 hours, encrypted', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { ...xledger, webhook_secret: WEBHOOK_SECRET });
      const before = Date.now();
      const res = await api.post(`${base(org)}/${config.id}/webhook-secret`, token);
      expect(res.status).toBe(201);
      expect(Object.keys(res.body)).toEqual(['webhook_secret']);
      const fresh: string = res.body.webhook_secret;
      expect(fresh).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(fresh.slice(6), 'base64')).toHaveLength(32);
      expect(fresh).not.toBe(WEBHOOK_SECRET);

      const [row] = await t.dataSource.query(
        `SELECT webhook_secret_encrypted, previous_webhook_secret_encrypted, previous_webhook_secret_expires_at FROM integration_configs WHERE id = $1`,
        [config.id],
      );
      const cipher = t.app.get(SecretCipher);
      const at = (column: string) => ({ table: 'integration_configs', column, rowId: config.id });
      expect(cipher.decrypt(row.webhook_secret_encrypted, at('webhook_secret_encrypted'))).toBe(fresh);
      expect(cipher.decrypt(row.previous_webhook_secret_encrypted, at('previous_webhook_secret_encrypted'))).toBe(WEBHOOK_SECRET);
      const expires = new Date(row.previous_webhook_secret_expires_at).getTime();
      expect(expires).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3600_000 + 1000);

      const read = await api.get(`${base(org)}/${config.id}`, token);
      expect(read.body).toMatchObject({ has_webhook_secret: true, revision: 2 });
      expect(read.text).not.toContain(fresh);
    });

    // AAD: an envelope copied from another organization's config (a bad restore, a hand-edited row)
    // opens under no key here; rotating is the way out of it, so it must not be refused with a 500.
    it("POST /webhook-secret over a stored secret no key opens (another organization's envelope): a fresh one, no overlap, logged", async () => {
      const [orgA, orgB] = [newOrgId(), newOrgId()];
      const [tokenA, tokenB] = [await t.token('org_admin', orgA), await t.token('org_admin', orgB)];
      const configA = await createConfig(orgA, tokenA, { ...xledger, webhook_secret: WEBHOOK_SECRET });
      const configB = await createConfig(orgB, tokenB, { ...xledger, webhook_secret: `whsec_${randomBytes(32).toString('base64')}` });
      expect((await api.post(`${base(orgA)}/${configA.id}/webhook-secret`, tokenA)).status).toBe(201);
      // A's current and previous secrets replaced by B's current one: their AAD names B's row.
      await t.dataSource.query(
        `UPDATE integration_configs SET webhook_secret_encrypted = b.webhook_secret_encrypted, previous_webhook_secret_encrypted = b.webhook_secret_encrypted
         FROM integration_configs b WHERE b.id = $1 AND integration_configs.id = $2`,
        [configB.id, configA.id],
      );
      const res = await api.post(`${base(orgA)}/${configA.id}/webhook-secret`, tokenA);
      expect(res.status).toBe(201);
      const [row] = await t.dataSource.query(
        `SELECT webhook_secret_encrypted, previous_webhook_secret_encrypted, previous_webhook_secret_expires_at, older_webhook_secret_encrypted, older_webhook_secret_expires_at
         FROM integration_configs WHERE id = $1`,
        [configA.id],
      );
      const cipher = t.app.get(SecretCipher);
      expect(cipher.decrypt(row.webhook_secret_encrypted, { table: 'integration_configs', column: 'webhook_secret_encrypted', rowId: configA.id })).toBe(res.body.webhook_secret);
      // Neither unreadable value is kept for the 24 hours: it could verify nothing.
      expect([row.previous_webhook_secret_encrypted, row.previous_webhook_secret_expires_at, row.older_webhook_secret_encrypted, row.older_webhook_secret_expires_at]).toEqual([
        null,
        null,
        null,
        null,
      ]);
      const logged = t.logs.filter((line) => line.includes('"secret_unreadable"') && line.includes(configA.id)).map((line) => JSON.parse(line));
      expect(logged.map((line) => [line.column, line.reason])).toEqual([
        ['previous_webhook_secret_encrypted', 'authentication_failed'],
        ['webhook_secret_encrypted', 'authentication_failed'],
      ]);
      expect(JSON.stringify(logged)).not.toContain('enc:v1');
    });

    it('POST /webhook-secret takes no fields: unknown and prototype keys are 400, no body at all is fine', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { ...xledger, webhook_secret: WEBHOOK_SECRET });
      const path = `${base(org)}/${config.id}/webhook-secret`;
      const unknown = await api.post(path, token, { grace_hours: 0 });
      expectProblem(unknown, 400, 'validation_failed');
      expect(rulesOf(unknown)).toEqual(['grace_hours:unknown_field']);
      const proto = await t.http.post(path).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"__proto__": {"admin": true}}');
      expectProblem(proto, 400, 'validation_failed');
      expect(rulesOf(proto)).toEqual(['__proto__:unknown_field']);
      expect((await api.get(`${base(org)}/${config.id}`, token)).body.revision).toBe(1);
      const bare = await t.http.post(path).set('Authorization', `Bearer ${token}`);
      expect(bare.status).toBe(201);
    });
  });

  describe('revisions and If-Match', () => {
    it('bumps the revision on every change and refuses a stale If-Match with 412', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const first = await api.patch(`${base(org)}/${config.id}`, token, { display_name: 'Renamed' }, { 'If-Match': '"1"' });
      expect(first.status).toBe(200);
      expect(first.headers.etag).toBe('"2"');
      expect(first.body).toMatchObject({ display_name: 'Renamed', revision: 2 });
      expect(first.body.updated_by).not.toBeNull();
      const stale = await api.patch(`${base(org)}/${config.id}`, token, { display_name: 'Stale' }, { 'If-Match': '"1"' });
      expectProblem(stale, 412, 'precondition_failed');
      expect((await api.get(`${base(org)}/${config.id}`, token)).body.display_name).toBe('Renamed');
      // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag of the current revision is no match.
      const weak = await api.patch(`${base(org)}/${config.id}`, token, { sync_frequency: 'weekly' }, { 'If-Match': 'W/"2"' });
      expectProblem(weak, 412, 'precondition_failed');
      expect((await api.get(`${base(org)}/${config.id}`, token)).body.sync_frequency).not.toBe('weekly');
      const staleDelete = await api.delete(`${base(org)}/${config.id}`, token, { 'If-Match': '"1"' });
      expectProblem(staleDelete, 412, 'precondition_failed');
    });

    it('answers a conditional read (If-None-Match) with 304 and no body while the copy is current', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const path = `${base(org)}/${config.id}`;
      for (const tag of ['"1"', 'W/"1"', '"7", "1"', '*']) {
        const unchanged = await api.get(path, token, { 'If-None-Match': tag });
        expect([tag, unchanged.status, unchanged.text ?? '']).toEqual([tag, 304, '']);
        expect(unchanged.headers.etag).toBe('"1"');
      }
      expect((await api.get(path, token, { 'If-None-Match': '"0"' })).status).toBe(200);
      await api.patch(path, token, { display_name: 'Renamed' });
      const changed = await api.get(path, token, { 'If-None-Match': '"1"' });
      expect(changed.status).toBe(200);
      expect(changed.headers.etag).toBe('"2"');
      expect(changed.body).toMatchObject({ display_name: 'Renamed', revision: 2 });
      // Not found stays not found, whatever the precondition.
      expectProblem(await api.get(`${base(org)}/${newOrgId()}`, token, { 'If-None-Match': '*' }), 404, 'not_found');
    });

    it('gives the config a new revision on every field-mapping write: its field_mappings changed, so do its ETag and If-Match', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const path = `${base(org)}/${config.id}`;
      const mappings = `${path}/field-mappings`;
      const mapping = { source_field: 'expense_amount', target_field: 'Amount' };
      let tag = (await api.get(path, token)).headers.etag as string;
      /** The write answered `status`; a read with the tag held before is no longer 304, and a PATCH with it is 412. */
      const expectNewRevision = async (write: Promise<{ status: number; body: any }>, status: number) => {
        const written = await write;
        expect(written.status).toBe(status);
        const read = await api.get(path, token, { 'If-None-Match': tag });
        expect(read.status).toBe(200);
        expect(read.headers.etag).not.toBe(tag);
        expectProblem(await api.patch(path, token, { display_name: 'Overwrites unseen' }, { 'If-Match': tag }), 412, 'precondition_failed');
        tag = read.headers.etag as string;
        return { written, read };
      };
      const created = await expectNewRevision(api.post(mappings, token, mapping), 201);
      expect(created.read.body.field_mappings).toEqual({ expense_amount: 'Amount' });
      const second = await expectNewRevision(api.post(`${mappings}/bulk`, token, { items: [{ source_field: 'expense_date', target_field: 'Date' }] }), 201);
      expect(second.read.body.field_mappings).toEqual({ expense_amount: 'Amount', expense_date: 'Date' });
      const id = created.written.body.id as string;
      expect((await expectNewRevision(api.patch(`${mappings}/${id}`, token, { target_field: 'Sum' }), 200)).read.body.field_mappings).toMatchObject({ expense_amount: 'Sum' });
      const version = await expectNewRevision(api.post(`${mappings}/${id}/versions`, token, { target_field: 'Total' }), 201);
      expect(version.read.body.field_mappings).toMatchObject({ expense_amount: 'Total' });
      await expectNewRevision(api.put(`${mappings}/order`, token, { ids: [second.written.body.items[0].id] }), 200);
      const gone = await expectNewRevision(api.delete(`${mappings}/${version.written.body.id}`, token), 204);
      expect(gone.read.body.field_mappings).toEqual({ expense_date: 'Date' });
      // A refused write changes nothing: the tag held still reads 304.
      expect((await api.post(mappings, token, { source_field: 'expense_date', target_field: 'Date' })).status).toBeGreaterThanOrEqual(400);
      expect((await api.get(path, token, { 'If-None-Match': tag })).status).toBe(304);
    });

    it('keeps the revision (and ETag) through a PATCH that changes nothing, and audits nothing', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const path = `${base(org)}/${config.id}`;
      const before = await api.get(path, token);
      for (const body of [{}, { display_name: before.body.display_name, enabled: before.body.enabled, sync_frequency: before.body.sync_frequency }]) {
        const same = await api.patch(path, token, body, { 'If-Match': before.headers.etag });
        expect([same.status, same.headers.etag, same.body.revision, same.body.updated_at]).toEqual([200, before.headers.etag, before.body.revision, before.body.updated_at]);
      }
      const audited = await t.dataSource.query(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY occurred_at`, [config.id]);
      expect(audited.map((e: { action: string }) => e.action)).toEqual(['integration_config.created']);
      // A change is one.
      const renamed = await api.patch(path, token, { display_name: 'Renamed' }, { 'If-Match': before.headers.etag });
      expect(renamed.body.revision).toBe(before.body.revision + 1);
      // Objects are compared by value: jsonb gives keys back in its own order, a client sends them in its.
      const codes = await api.patch(path, token, { accounting_code_mappings: { travel_km: '4001', meal_allowance: '4002' } });
      const reordered = await api.patch(path, token, { accounting_code_mappings: { meal_allowance: '4002', travel_km: '4001' } });
      expect([reordered.status, reordered.body.revision]).toEqual([200, codes.body.revision]);
    });

    it('lets exactly one of two concurrent PATCHes with the same If-Match win', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const results = await Promise.all(['A', 'B'].map((name) => api.patch(`${base(org)}/${config.id}`, token, { display_name: name }, { 'If-Match': '"1"' })));
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      const read = await api.get(`${base(org)}/${config.id}`, token);
      expect(read.body.revision).toBe(2);
      expect(read.body.display_name).toBe(results.find((r) => r.status === 200)!.body.display_name);
    });
  });

  describe('sync runs', () => {
    async function enabledConfig() {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { ...xledger, enabled: true });
      return { org, token, config };
    }

    it('disabled_integration_must_not_sync: a disabled config refuses with 409 and records nothing', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, xledger);
      const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, { status: 'success', started_at: new Date().toISOString() });
      expectProblem(res, 409, 'disabled_integration_must_not_sync');
      const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM sync_runs WHERE integration_id = $1`, [config.id]);
      expect(count).toBe(0);
    });

    it('sync_status_updated_after_every_attempt: failure, then success', async () => {
      const { org, token, config } = await enabledConfig();
      const failed = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, {
        status: 'failed',
        started_at: '2026-11-22T10:00:00.000Z',
        finished_at: '2026-11-22T10:01:00.000Z',
        error: 'Xledger answered 503',
        records_pushed: 3,
      });
      expect(failed.status).toBe(201);
      expect(failed.body).toMatchObject({ status: 'failed', error: 'Xledger answered 503', records_pushed: 3, records_pulled: 0, integration_id: config.id });
      let read = await api.get(`${base(org)}/${config.id}`, token);
      expect(read.body).toMatchObject({ last_sync_at: '2026-11-22T10:01:00.000Z', last_sync_status: 'failed', last_sync_error: 'Xledger answered 503', last_success_at: null });

      const ok = await api.post(`${base(org)}/${config.id}/sync-runs`, token, {
        status: 'success',
        started_at: '2026-11-22T11:00:00.000Z',
        finished_at: '2026-11-22T11:00:30.000Z',
      });
      expect(ok.status).toBe(201);
      read = await api.get(`${base(org)}/${config.id}`, token);
      expect(read.body).toMatchObject({
        last_sync_at: '2026-11-22T11:00:30.000Z',
        last_sync_status: 'success',
        last_sync_error: null,
        last_success_at: '2026-11-22T11:00:30.000Z',
      });

      const partial = await api.post(`${base(org)}/${config.id}/sync-runs`, token, {
        status: 'partial',
        started_at: new Date(Date.now() - 60_000).toISOString(),
        error: '2 of 5 refused',
      });
      expect(partial.status).toBe(201);
      read = await api.get(`${base(org)}/${config.id}`, token);
      expect(read.body).toMatchObject({ last_sync_status: 'partial', last_sync_error: '2 of 5 refused', last_success_at: '2026-11-22T11:00:30.000Z' });
      expect(new Date(read.body.last_sync_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    });

    it('writes the run and the config status in one transaction', async () => {
      const { org, token, config } = await enabledConfig();
      // Make the config update fail after the run row was inserted: nothing may remain.
      await t.dataSource.query(`
        CREATE OR REPLACE FUNCTION refuse_sync_status() RETURNS trigger AS $$
        BEGIN IF NEW.id = '${config.id}' AND NEW.last_sync_status IS DISTINCT FROM OLD.last_sync_status THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await t.dataSource.query(`CREATE TRIGGER refuse_sync_status BEFORE UPDATE ON integration_configs FOR EACH ROW EXECUTE FUNCTION refuse_sync_status()`);
      try {
        const res = await api.post(`${base(org)}/${config.id}/sync-runs`, token, { status: 'success', started_at: new Date().toISOString() });
        expectProblem(res, 500, 'internal_error');
      } finally {
        await t.dataSource.query(`DROP TRIGGER refuse_sync_status ON integration_configs`);
        await t.dataSource.query(`DROP FUNCTION refuse_sync_status()`);
      }
      const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM sync_runs WHERE integration_id = $1`, [config.id]);
      expect(count).toBe(0);
      expect((await api.get(`${base(org)}/${config.id}`, token)).body.last_sync_status).toBeNull();
    });

    it("scrubs the config's own credentials from a reported error before storing it", async () => {
      const { org, config } = await enabledConfig();
      const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, {
        status: 'failed',
        started_at: new Date().toISOString(),
        error: `Xledger said: invalid key ${API_KEY}`,
      });
      expect(res.status).toBe(201);
      expect(res.body.error).toBe('Xledger said: invalid key [redacted]');
      const [stored] = await t.dataSource.query(`SELECT s.error, c.last_sync_error FROM sync_runs s JOIN integration_configs c ON c.id = s.integration_id WHERE s.id = $1`, [
        res.body.id,
      ]);
      expect(stored).toEqual({ error: 'Xledger said: invalid key [redacted]', last_sync_error: 'Xledger said: invalid key [redacted]' });
    });

    /** Another config of the organization, with a secret of its own (CLIENT_SECRET). */
    const secondConfig = (org: string, token: string) =>
      createConfig(org, token, {
        integration_type: 'dynamics',
        display_name: 'D365',
        client_id: 'abc',
        client_secret: CLIENT_SECRET,
        tenant_id: 't',
        base_url: 'https://d365.example',
      });

    it("scrubs every encoding of every secret the organization holds, another config's included", async () => {
      const { org, token, config } = await enabledConfig();
      await secondConfig(org, token);
      const quoted = [
        Buffer.from(API_KEY).toString('base64'),
        Buffer.from(API_KEY).toString('hex').toUpperCase(),
        encodeURIComponent(API_KEY),
        API_KEY.toUpperCase(),
        `Basic ${Buffer.from(`svc:${API_KEY}`).toString('base64')}`,
        CLIENT_SECRET,
        Buffer.from(CLIENT_SECRET).toString('base64url'),
      ];
      const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, {
        status: 'failed',
        started_at: new Date().toISOString(),
        error: `refused: ${quoted.join(' | ')}`,
      });
      expect(res.status).toBe(201);
      const [stored] = await t.dataSource.query(`SELECT s.error, c.last_sync_error FROM sync_runs s JOIN integration_configs c ON c.id = s.integration_id WHERE s.id = $1`, [
        res.body.id,
      ]);
      for (const text of [res.body.error, stored.error, stored.last_sync_error]) {
        expect(text.startsWith('refused: ')).toBe(true);
        for (const form of quoted) expect(text).not.toContain(form.replace(/^Basic /, ''));
      }
    });

    it("a secret of the organization no key opens (a bad restore) is passed over and logged, not a 500 for another config's run", async () => {
      const { org, token, config } = await enabledConfig();
      const other = await secondConfig(org, token);
      // The other config's client secret replaced by an envelope of another row and column: its AAD does not match.
      await t.dataSource.query(`UPDATE integration_configs SET client_secret_encrypted = (SELECT api_key_encrypted FROM integration_configs WHERE id = $1) WHERE id = $2`, [
        config.id,
        other.id,
      ]);
      const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, { status: 'failed', started_at: new Date().toISOString(), error: `invalid key ${API_KEY}` });
      expect(res.status).toBe(201);
      expect(res.body.error).toBe('invalid key [redacted]');
      const unreadable = t.logs.filter((line) => line.includes('"secret_unreadable"') && line.includes(other.id));
      expect(unreadable).toHaveLength(1);
      expect(JSON.parse(unreadable[0])).toMatchObject({ config_id: other.id, column: 'client_secret_encrypted', reason: 'authentication_failed' });
    });

    it('validates the run body', async () => {
      const { org, config } = await enabledConfig();
      const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, { status: 'exploded', started_at: 'yesterday', records_pushed: -1, records_pulled: 1.5 });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res).sort()).toEqual(
        expect.arrayContaining([
          'records_pulled:record_count_non_negative',
          'records_pushed:record_count_non_negative',
          'started_at:timestamp_must_be_iso8601',
          'status:sync_status_must_be_known_value',
        ]),
      );
      const noError = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, { status: 'failed', started_at: '2026-11-22T10:00:00Z' });
      expect(rulesOf(noError)).toEqual(['error:error_required_unless_success']);
      const backwards = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, {
        status: 'success',
        started_at: '2026-11-22T10:00:00Z',
        finished_at: '2026-11-22T09:00:00Z',
      });
      expect(rulesOf(backwards)).toEqual(['finished_at:finished_at_not_before_started_at']);
    });

    it('lists the history newest first, in pages', async () => {
      const { org, token, config } = await enabledConfig();
      for (let i = 0; i < 5; i++) {
        const res = await api.post(`${base(org)}/${config.id}/sync-runs`, syncService, { status: 'success', started_at: new Date().toISOString(), records_pushed: i });
        expect(res.status).toBe(201);
      }
      const page1 = await api.get(`${base(org)}/${config.id}/sync-runs?limit=2`, token);
      expect(page1.body.items.map((r: { records_pushed: number }) => r.records_pushed)).toEqual([4, 3]);
      expect(page1.body.next_cursor).toEqual(expect.any(String));
      const page2 = await api.get(`${base(org)}/${config.id}/sync-runs?limit=2&cursor=${page1.body.next_cursor}`, token);
      expect(page2.body.items.map((r: { records_pushed: number }) => r.records_pushed)).toEqual([2, 1]);
      const page3 = await api.get(`${base(org)}/${config.id}/sync-runs?limit=2&cursor=${page2.body.next_cursor}`, token);
      expect(page3.body).toMatchObject({ next_cursor: null });
      expect(page3.body.items.map((r: { records_pushed: number }) => r.records_pushed)).toEqual([0]);
      const all = await api.get(`${base(org)}/${config.id}/sync-runs`, globalAdmin);
      expect(all.body.items).toHaveLength(5);
      for (const bad of ['limit=0', 'limit=201', 'limit=abc', 'cursor=!!', 'cursor=bm9wZQ']) {
        expect((await api.get(`${base(org)}/${config.id}/sync-runs?${bad}`, token)).status).toBe(400);
      }
    });
  });

  describe('org_scoped_access_only on every route', () => {
    let configA: { id: string };
    beforeAll(async () => {
      configA = await createConfig(orgA, adminA, { ...xledger, enabled: true, webhook_secret: WEBHOOK_SECRET });
    });

    const routes = (org: string, id: string) =>
      [
        ['get', base(org)],
        ['post', base(org)],
        ['get', `${base(org)}/${id}`],
        ['patch', `${base(org)}/${id}`],
        ['delete', `${base(org)}/${id}`],
        ['post', `${base(org)}/${id}/webhook-secret`],
        ['post', `${base(org)}/${id}/sync-runs`],
        ['get', `${base(org)}/${id}/sync-runs`],
      ] as const;

    it("gives another org's admin 403 org_scoped_access_only on every route", async () => {
      for (const [method, path] of routes(orgA, configA.id)) {
        const res = method === 'get' || method === 'delete' ? await api[method](path, adminB) : await api[method](path, adminB, {});
        expect({ path, method, status: res.status, code: res.body.code }).toEqual({ path, method, status: 403, code: 'org_scoped_access_only' });
      }
    });

    it("answers 404 when an admin uses another organization's config id under its own path", async () => {
      for (const [method, path] of routes(orgB, configA.id).filter(([, p]) => p.includes(configA.id))) {
        const body =
          method === 'post' && path.endsWith('sync-runs') ? { status: 'success', started_at: new Date().toISOString() } : method === 'patch' ? { display_name: 'hijack' } : {};
        const res = method === 'get' || method === 'delete' ? await api[method](path, adminB) : await api[method](path, adminB, body);
        expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
      }
      const read = await api.get(`${base(orgA)}/${configA.id}`, adminA);
      expect(read.body).toMatchObject({ display_name: 'Xledger production', revision: 1 });
    });

    it('lets global_admin read everything and write nothing', async () => {
      expect((await api.get(base(orgA), globalAdmin)).status).toBe(200);
      expect((await api.get(`${base(orgA)}/${configA.id}`, globalAdmin)).status).toBe(200);
      expect((await api.get(`${base(orgA)}/${configA.id}/sync-runs`, globalAdmin)).status).toBe(200);
      for (const [method, path] of routes(orgA, configA.id).filter(([m]) => m !== 'get')) {
        const res = method === 'delete' ? await api.delete(path, globalAdmin) : await api[method](path, globalAdmin, { status: 'success', started_at: new Date().toISOString() });
        expect({ path, method, status: res.status }).toEqual({ path, method, status: 403 });
      }
    });

    it('lets sync_service read configs and record runs only', async () => {
      expect((await api.get(base(orgA), syncService)).status).toBe(200);
      expect((await api.get(`${base(orgA)}/${configA.id}`, syncService)).status).toBe(200);
      expect((await api.post(`${base(orgA)}/${configA.id}/sync-runs`, syncService, { status: 'success', started_at: new Date().toISOString() })).status).toBe(201);
      expect((await api.post(base(orgA), syncService, { integration_type: 'dynamics', display_name: 'x' })).status).toBe(403);
      expect((await api.patch(`${base(orgA)}/${configA.id}`, syncService, { display_name: 'x' })).status).toBe(403);
      expect((await api.delete(`${base(orgA)}/${configA.id}`, syncService)).status).toBe(403);
      expect((await api.post(`${base(orgA)}/${configA.id}/webhook-secret`, syncService)).status).toBe(403);
    });

    it('answers 404 for an id that is not a UUID, and for an unknown one', async () => {
      expect((await api.get(`${base(orgA)}/not-a-uuid`, adminA)).status).toBe(404);
      expect((await api.get(`${base(orgA)}/${randomUUID()}`, adminA)).status).toBe(404);
    });
  });

  describe('delete', () => {
    it('deletes the config with its sync runs (cascade) and answers 404 afterwards', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const config = await createConfig(org, token, { ...xledger, enabled: true });
      await api.post(`${base(org)}/${config.id}/sync-runs`, token, { status: 'success', started_at: new Date().toISOString() });
      const res = await api.delete(`${base(org)}/${config.id}`, token);
      expect(res.status).toBe(204);
      expect((await api.get(`${base(org)}/${config.id}`, token)).status).toBe(404);
      const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM sync_runs WHERE integration_id = $1`, [config.id]);
      expect(count).toBe(0);
    });
  });

  describe('secrets never leave', () => {
    it('no response and no log line of this suite holds a plaintext secret or an envelope', () => {
      expect(api.seen.length).toBeGreaterThan(50);
      const responses = api.seen.map((c) => c.text).join('\n');
      const logs = t.logs.join('\n');
      expect(t.logs.some((line) => line.includes('credential_change'))).toBe(true);
      for (const text of [responses, logs]) {
        for (const secret of PLAINTEXTS) expect(text).not.toContain(secret);
        expect(text).not.toMatch(/enc:v1:/);
        expect(text).not.toMatch(/_encrypted"\s*:\s*"/);
      }
    });
  });

  // A POST that makes a resource says where it is (Location): a GET there answers it, also when the
  // answer is a replay of its Idempotency-Key. Answers that make no resource of their own say none.
  describe('Location of what a POST made', () => {
    /** The answer's Location, checked by reading it: the same resource. */
    async function followed(res: { status: number; headers: Record<string, string>; body: { id: string } }, token: string): Promise<string> {
      const location = res.headers['location'];
      expect(location).toMatch(/^\/v1\/organizations\//);
      const read = await api.get(location, token);
      expect([location, read.status, read.body.id]).toEqual([location, 200, res.body.id]);
      return location;
    }

    it('names the config, mapping, mapping version, export run and alert endpoint made; a replay names it too', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const base = `/v1/organizations/${org}/integrations`;
      const created = await api.post(base, token, xledgerConfig(), { 'Idempotency-Key': 'create-1' });
      expect(created.status).toBe(201);
      expect(await followed(created, token)).toBe(`${base}/${created.body.id}`);
      const replayed = await api.post(base, token, xledgerConfig(), { 'Idempotency-Key': 'create-1' });
      expect([replayed.headers['idempotent-replayed'], replayed.headers['location']]).toEqual(['true', created.headers['location']]);

      const config = `${base}/${created.body.id}`;
      const mapping = await api.post(`${config}/field-mappings`, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect(await followed(mapping, token)).toBe(`${config}/field-mappings/${mapping.body.id}`);
      const version = await api.post(`${config}/field-mappings/${mapping.body.id}/versions`, token, { is_required: true });
      expect(await followed(version, token)).toBe(`${config}/field-mappings/${version.body.id}`);

      // A batch of mappings is no one resource: no Location.
      const bulk = await api.post(`${config}/field-mappings/bulk`, token, {
        items: [
          { source_field: 'expense_date', target_field: 'TransactionDate' },
          { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' },
        ],
      });
      expect([bulk.status, bulk.headers['location']]).toEqual([201, undefined]);

      const records = [{ claim_id: '7d1e4a52-0c1b-4f6e-9a57-3b2c1d0e9f8a', expense_type: 'travel_km', expense_amount: 12.5, expense_date: '2026-11-20' }];
      const exported = await api.post(`${config}/exports`, token, { records });
      expect(exported.status).toBe(201);
      expect(await followed(exported, token)).toBe(`${config}/exports/${exported.body.id}`);
      // Queued for delivery (202): where to follow it.
      const queued = await api.post(`${config}/exports`, token, { records, deliver: true }, { 'Idempotency-Key': 'export-1' });
      expect(queued.status).toBe(202);
      await followed(queued, token);
      expect((await api.post(`${config}/exports`, token, { records, deliver: true }, { 'Idempotency-Key': 'export-1' })).headers['location']).toBe(queued.headers['location']);

      const endpoint = await api.post(`/v1/organizations/${org}/alert-endpoints`, token, { url: 'https://ops.example.org/hooks' });
      expect(endpoint.status).toBe(201);
      expect(await followed(endpoint, token)).toBe(`/v1/organizations/${org}/alert-endpoints/${endpoint.body.id}`);

      // No resource of their own: a secret, a sync run there is no single read of.
      const secret = await api.post(`${config}/webhook-secret`, token);
      const syncRun = await api.post(`${config}/sync-runs`, token, { status: 'success', started_at: new Date().toISOString() });
      expect([secret, syncRun].map((res) => [res.status, res.headers['location']])).toEqual([
        [201, undefined],
        [201, undefined],
      ]);
    });
  });
});
