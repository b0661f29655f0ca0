-- The schema the migrations build (tests compare it; it is not run). Regenerate: see docs/testing.md.

CREATE TYPE field_mapping_transform_type AS ENUM ('direct', 'format', 'lookup', 'computed', 'static');
CREATE TYPE integration_sync_frequency AS ENUM ('manual', 'realtime', 'hourly', 'daily', 'weekly', 'monthly');
CREATE TYPE integration_sync_status AS ENUM ('success', 'partial', 'failed');

CREATE OR REPLACE FUNCTION public.audit_events_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
      END $function$;

CREATE TABLE alert_endpoints (
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  url character varying(2048) NOT NULL,
  description character varying(200),
  signing_secret_encrypted text NOT NULL,
  created_by uuid NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE alert_endpoints ADD CONSTRAINT alert_endpoints_pkey PRIMARY KEY (id);
ALTER TABLE alert_endpoints ADD CONSTRAINT alert_endpoints_seq_key UNIQUE (seq);
ALTER TABLE alert_endpoints ADD CONSTRAINT chk_alert_endpoints_secret_envelope CHECK ((signing_secret_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE alert_endpoints ADD CONSTRAINT chk_alert_endpoints_url CHECK (((url)::text ~ '^https://'::text));
CREATE UNIQUE INDEX alert_endpoints_pkey ON public.alert_endpoints USING btree (id);
CREATE UNIQUE INDEX alert_endpoints_seq_key ON public.alert_endpoints USING btree (seq);
CREATE INDEX idx_alert_endpoints_org_seq ON public.alert_endpoints USING btree (organization_id, seq);

CREATE TABLE audit_events (
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid,
  occurred_at timestamp with time zone NOT NULL DEFAULT now(),
  actor_sub uuid,
  actor_role text,
  actor_organization_id uuid,
  resource_type text NOT NULL,
  resource_id uuid,
  integration_id uuid,
  action text NOT NULL,
  changed_fields text[] NOT NULL DEFAULT '{}'::text[],
  request_id text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);
ALTER TABLE audit_events ADD CONSTRAINT chk_audit_events_details_object CHECK ((jsonb_typeof(details) = 'object'::text));
CREATE UNIQUE INDEX audit_events_pkey ON public.audit_events USING btree (id);
CREATE INDEX idx_audit_events_occurred_at ON public.audit_events USING btree (occurred_at);
CREATE INDEX idx_audit_events_org_action_seq ON public.audit_events USING btree (organization_id, action, seq DESC);
CREATE INDEX idx_audit_events_org_integration ON public.audit_events USING btree (organization_id, integration_id, seq DESC);
CREATE INDEX idx_audit_events_org_occurred_at ON public.audit_events USING btree (organization_id, timezone('UTC'::text, occurred_at));
CREATE INDEX idx_audit_events_org_resource ON public.audit_events USING btree (organization_id, resource_id, seq DESC);
CREATE INDEX idx_audit_events_org_seq ON public.audit_events USING btree (organization_id, seq DESC);
CREATE TRIGGER trg_audit_events_append_only BEFORE UPDATE ON public.audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE export_run_rows (
  export_run_id uuid NOT NULL,
  index integer NOT NULL,
  organization_id uuid NOT NULL,
  claim_id character varying(255),
  output json,
  status text NOT NULL,
  external_id character varying(255),
  error text
);
ALTER TABLE export_run_rows ADD CONSTRAINT chk_export_run_rows_status CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'failed'::text, 'skipped'::text])));
ALTER TABLE export_run_rows ADD CONSTRAINT fk_export_run_rows_run FOREIGN KEY (organization_id, export_run_id) REFERENCES export_runs(organization_id, id) ON DELETE CASCADE;
ALTER TABLE export_run_rows ADD CONSTRAINT pk_export_run_rows PRIMARY KEY (export_run_id, index);
CREATE UNIQUE INDEX pk_export_run_rows ON public.export_run_rows USING btree (export_run_id, index);

CREATE TABLE export_runs (
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  status text NOT NULL,
  started_at timestamp with time zone NOT NULL,
  finished_at timestamp with time zone NOT NULL,
  row_count integer NOT NULL,
  skipped_count integer NOT NULL,
  mappings_used jsonb NOT NULL,
  result json NOT NULL,
  created_by uuid NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  delivery_attempts integer NOT NULL DEFAULT 0,
  delivered_count integer NOT NULL DEFAULT 0,
  failed_count integer NOT NULL DEFAULT 0,
  next_attempt_at timestamp with time zone,
  last_error text,
  not_before timestamp with time zone,
  settled_at timestamp with time zone
);
ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_mappings_used CHECK ((jsonb_typeof(mappings_used) = 'array'::text));
ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_row_count CHECK ((row_count >= 0));
ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_skipped_count CHECK ((skipped_count >= 0));
ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_status CHECK ((status = ANY (ARRAY['completed'::text, 'queued'::text, 'delivering'::text, 'delivered'::text, 'partially_delivered'::text, 'failed'::text, 'cancelled'::text])));
ALTER TABLE export_runs ADD CONSTRAINT export_runs_pkey PRIMARY KEY (id);
ALTER TABLE export_runs ADD CONSTRAINT fk_export_runs_integration FOREIGN KEY (organization_id, integration_id) REFERENCES integration_configs(organization_id, id) ON DELETE CASCADE;
ALTER TABLE export_runs ADD CONSTRAINT uq_export_runs_org_id UNIQUE (organization_id, id);
CREATE UNIQUE INDEX export_runs_pkey ON public.export_runs USING btree (id);
CREATE INDEX idx_export_runs_created_at ON public.export_runs USING btree (created_at);
CREATE INDEX idx_export_runs_deliverable ON public.export_runs USING btree (organization_id, integration_id) WHERE (status = ANY (ARRAY['queued'::text, 'delivering'::text]));
CREATE INDEX idx_export_runs_integration_seq ON public.export_runs USING btree (organization_id, integration_id, seq DESC);
CREATE INDEX idx_export_runs_integration_status ON public.export_runs USING btree (integration_id, status);
CREATE INDEX idx_export_runs_mappings_used ON public.export_runs USING gin (mappings_used jsonb_path_ops);
CREATE UNIQUE INDEX uq_export_runs_org_id ON public.export_runs USING btree (organization_id, id);

CREATE TABLE field_mappings (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  source_field character varying(255) NOT NULL,
  target_field character varying(255) NOT NULL,
  transform_type field_mapping_transform_type NOT NULL,
  transform_config jsonb,
  default_value character varying(255),
  is_required boolean NOT NULL DEFAULT false,
  source_field_path character varying(255),
  display_label character varying(255) NOT NULL,
  sort_order integer NOT NULL,
  is_active boolean NOT NULL DEFAULT true,
  version integer NOT NULL DEFAULT 1,
  lineage_id uuid NOT NULL,
  previous_version_id uuid,
  superseded_at timestamp with time zone,
  used_in_export boolean NOT NULL DEFAULT false,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_default_value_length CHECK ((char_length((default_value)::text) >= 1));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_sort_order_non_negative CHECK ((sort_order >= 0));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_source_field_path CHECK (((source_field_path)::text ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'::text));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_source_field_snake_case CHECK (((source_field)::text ~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$'::text));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_superseded_inactive CHECK (((superseded_at IS NULL) OR (is_active = false)));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_target_field_non_empty CHECK ((btrim((target_field)::text) <> ''::text));
ALTER TABLE field_mappings ADD CONSTRAINT chk_field_mappings_version CHECK ((version >= 1));
ALTER TABLE field_mappings ADD CONSTRAINT field_mappings_pkey PRIMARY KEY (id);
ALTER TABLE field_mappings ADD CONSTRAINT fk_field_mappings_integration FOREIGN KEY (organization_id, integration_id) REFERENCES integration_configs(organization_id, id) ON DELETE CASCADE;
ALTER TABLE field_mappings ADD CONSTRAINT fk_field_mappings_previous_version FOREIGN KEY (organization_id, previous_version_id) REFERENCES field_mappings(organization_id, id) ON DELETE CASCADE;
ALTER TABLE field_mappings ADD CONSTRAINT uq_field_mappings_org_id UNIQUE (organization_id, id);
ALTER TABLE field_mappings ADD CONSTRAINT uq_field_mappings_previous_version UNIQUE (previous_version_id);
CREATE UNIQUE INDEX field_mappings_pkey ON public.field_mappings USING btree (id);
CREATE INDEX idx_field_mapping_integration_id ON public.field_mappings USING btree (integration_id);
CREATE UNIQUE INDEX idx_field_mapping_integration_source_unique ON public.field_mappings USING btree (integration_id, source_field) WHERE (superseded_at IS NULL);
CREATE INDEX idx_field_mapping_is_active ON public.field_mappings USING btree (integration_id, is_active);
CREATE INDEX idx_field_mapping_lineage ON public.field_mappings USING btree (lineage_id, version);
CREATE INDEX idx_field_mapping_sort_order ON public.field_mappings USING btree (integration_id, sort_order);
CREATE UNIQUE INDEX uq_field_mappings_org_id ON public.field_mappings USING btree (organization_id, id);
CREATE UNIQUE INDEX uq_field_mappings_previous_version ON public.field_mappings USING btree (previous_version_id);

CREATE TABLE idempotency_keys (
  organization_id uuid NOT NULL,
  principal_sub text NOT NULL,
  key character varying(255) NOT NULL,
  request_fingerprint text NOT NULL,
  state text NOT NULL,
  response_status integer,
  response_body text,
  response_etag text,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE idempotency_keys ADD CONSTRAINT chk_idempotency_keys_state CHECK ((state = ANY (ARRAY['in_progress'::text, 'completed'::text])));
ALTER TABLE idempotency_keys ADD CONSTRAINT pk_idempotency_keys PRIMARY KEY (organization_id, principal_sub, key);
CREATE INDEX idx_idempotency_keys_created_at ON public.idempotency_keys USING btree (created_at);
CREATE UNIQUE INDEX pk_idempotency_keys ON public.idempotency_keys USING btree (organization_id, principal_sub, key);

CREATE TABLE integration_configs (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  integration_type text NOT NULL,
  display_name character varying(200) NOT NULL,
  enabled boolean NOT NULL DEFAULT false,
  base_url character varying(2048),
  api_key_encrypted text,
  client_id character varying(255),
  client_secret_encrypted text,
  tenant_id character varying(255),
  accounting_code_mappings jsonb NOT NULL DEFAULT '{}'::jsonb,
  sync_frequency integration_sync_frequency NOT NULL DEFAULT 'manual'::integration_sync_frequency,
  last_sync_at timestamp with time zone,
  last_sync_status integration_sync_status,
  last_sync_error text,
  last_success_at timestamp with time zone,
  webhook_url character varying(2048),
  webhook_secret_encrypted text,
  previous_webhook_secret_encrypted text,
  previous_webhook_secret_expires_at timestamp with time zone,
  extra_config jsonb NOT NULL DEFAULT '{}'::jsonb,
  revision integer NOT NULL DEFAULT 1,
  created_by uuid NOT NULL,
  updated_by uuid,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now(),
  paused boolean NOT NULL DEFAULT false,
  paused_at timestamp with time zone,
  consecutive_failures integer NOT NULL DEFAULT 0,
  older_webhook_secret_encrypted text,
  older_webhook_secret_expires_at timestamp with time zone
);
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_accounting_codes_object CHECK ((jsonb_typeof(accounting_code_mappings) = 'object'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_api_key_envelope CHECK ((api_key_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_base_url CHECK (((base_url)::text ~ '^https://'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_client_secret_envelope CHECK ((client_secret_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_consecutive_failures CHECK ((consecutive_failures >= 0));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_display_name CHECK ((btrim((display_name)::text) <> ''::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_extra_config_object CHECK ((jsonb_typeof(extra_config) = 'object'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_older_webhook_secret_envelope CHECK ((older_webhook_secret_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_older_webhook_secret_expiry CHECK (((older_webhook_secret_encrypted IS NULL) = (older_webhook_secret_expires_at IS NULL)));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_previous_webhook_secret_envelope CHECK ((previous_webhook_secret_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_previous_webhook_secret_expiry CHECK (((previous_webhook_secret_encrypted IS NULL) = (previous_webhook_secret_expires_at IS NULL)));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_revision CHECK ((revision > 0));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_webhook_secret_envelope CHECK ((webhook_secret_encrypted ~ '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'::text));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_webhook_secret_required CHECK (((webhook_url IS NULL) OR (webhook_secret_encrypted IS NOT NULL)));
ALTER TABLE integration_configs ADD CONSTRAINT chk_integration_configs_webhook_url CHECK (((webhook_url)::text ~ '^https://'::text));
ALTER TABLE integration_configs ADD CONSTRAINT fk_integration_configs_type FOREIGN KEY (integration_type) REFERENCES integration_types(integration_type);
ALTER TABLE integration_configs ADD CONSTRAINT integration_configs_pkey PRIMARY KEY (id);
ALTER TABLE integration_configs ADD CONSTRAINT uq_integration_configs_org_id UNIQUE (organization_id, id);
CREATE INDEX idx_integration_configs_enabled ON public.integration_configs USING btree (enabled);
CREATE UNIQUE INDEX idx_integration_configs_org_type ON public.integration_configs USING btree (organization_id, integration_type);
CREATE UNIQUE INDEX integration_configs_pkey ON public.integration_configs USING btree (id);
CREATE UNIQUE INDEX uq_integration_configs_org_id ON public.integration_configs USING btree (organization_id, id);

CREATE TABLE integration_types (
  integration_type text NOT NULL
);
ALTER TABLE integration_types ADD CONSTRAINT chk_integration_types_name CHECK ((integration_type ~ '^[a-z][a-z0-9_]{1,62}$'::text));
ALTER TABLE integration_types ADD CONSTRAINT integration_types_pkey PRIMARY KEY (integration_type);
CREATE UNIQUE INDEX integration_types_pkey ON public.integration_types USING btree (integration_type);

CREATE TABLE sync_runs (
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  status integration_sync_status NOT NULL,
  started_at timestamp with time zone NOT NULL,
  finished_at timestamp with time zone NOT NULL,
  error text,
  records_pushed integer NOT NULL DEFAULT 0,
  records_pulled integer NOT NULL DEFAULT 0,
  recorded_by uuid NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE sync_runs ADD CONSTRAINT chk_sync_runs_error_unless_success CHECK (((status = 'success'::integration_sync_status) OR (error IS NOT NULL)));
ALTER TABLE sync_runs ADD CONSTRAINT chk_sync_runs_finished_after_started CHECK ((finished_at >= started_at));
ALTER TABLE sync_runs ADD CONSTRAINT chk_sync_runs_records_pulled CHECK ((records_pulled >= 0));
ALTER TABLE sync_runs ADD CONSTRAINT chk_sync_runs_records_pushed CHECK ((records_pushed >= 0));
ALTER TABLE sync_runs ADD CONSTRAINT fk_sync_runs_integration FOREIGN KEY (organization_id, integration_id) REFERENCES integration_configs(organization_id, id) ON DELETE CASCADE;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_pkey PRIMARY KEY (id);
CREATE INDEX idx_sync_runs_created_at ON public.sync_runs USING btree (created_at);
CREATE INDEX idx_sync_runs_integration ON public.sync_runs USING btree (integration_id);
CREATE INDEX idx_sync_runs_integration_seq ON public.sync_runs USING btree (organization_id, integration_id, seq DESC);
CREATE UNIQUE INDEX sync_runs_pkey ON public.sync_runs USING btree (id);

CREATE TABLE webhook_events (
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  webhook_id character varying(255) NOT NULL,
  received_at timestamp with time zone NOT NULL DEFAULT now(),
  signature_scheme text NOT NULL,
  payload bytea NOT NULL,
  content_type character varying(255)
);
ALTER TABLE webhook_events ADD CONSTRAINT chk_webhook_events_scheme CHECK ((signature_scheme = ANY (ARRAY['standard_webhooks'::text, 'xledger'::text])));
ALTER TABLE webhook_events ADD CONSTRAINT fk_webhook_events_integration FOREIGN KEY (organization_id, integration_id) REFERENCES integration_configs(organization_id, id) ON DELETE CASCADE;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);
CREATE INDEX idx_webhook_events_integration_seq ON public.webhook_events USING btree (organization_id, integration_id, seq DESC);
CREATE UNIQUE INDEX idx_webhook_events_integration_webhook_id ON public.webhook_events USING btree (integration_id, webhook_id);
CREATE INDEX idx_webhook_events_received_at ON public.webhook_events USING btree (received_at);
CREATE UNIQUE INDEX webhook_events_pkey ON public.webhook_events USING btree (id);
