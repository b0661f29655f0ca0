// The public API for internal services that import the integrations service as a module.
export { IntegrationsModule, type IntegrationsModuleOptions } from './integrations.module';
export { AppConfig, ConfigError, loadAppConfig } from './config/app-config';
export { startEmbeddedPostgres, type EmbeddedPostgres } from './database/embedded-postgres';
export { InjectMeanderDataSource, MEANDER_DATA_SOURCE } from './database/database.module';
export { IntegrationConfigService } from './integration-config/integration-config.service';
export { FieldMappingService } from './field-mapping/field-mapping.service';
export { ExportRunService } from './export-runs/export-run.service';
export { WebhooksService } from './webhooks/webhooks.service';
export { SyncService, type IntegrationCredentials } from './sync/sync.service';
export { DeliveryService } from './sync/delivery.service';
export { ConnectionTestService } from './sync/connection-test.service';
export {
  DeliveryFailure,
  DeliveryStopped,
  requestGate,
  type Connector,
  type ConnectorContext,
  type DeliveryFailureKind,
  type DeliveryRow,
  type RowOutcome,
} from './sync/connector';
export { IntegrationTypeRegistry } from './integration-types/integration-type.registry';
export type { IntegrationTypeDefinition, SourceFieldDefinition } from './integration-types/integration-type';
export type { Principal, Role } from './auth/principal';
export { Public, Roles } from './auth/auth.decorators';
export { requestLogFields, type LoggableRequest, type RequestLogFields } from './logging/request-log';
export { logUnhandledRejections } from './logging/unhandled-rejections';
export { RuleViolation } from './common/rule-violation';
export { validateDto } from './common/validation';
export { PageQueryDto } from './common/pagination';
export { CreateIntegrationConfigDto, UpdateIntegrationConfigDto } from './integration-config/dto/integration-config-request.dto';
export type { IntegrationConfigResponse } from './integration-config/dto/integration-config-response.dto';
export { RecordSyncRunDto, type SyncRunResponse } from './integration-config/dto/sync-run.dto';
export { CreateFieldMappingDto, UpdateFieldMappingDto } from './field-mapping/dto/field-mapping-request.dto';
export type { FieldMappingResponse } from './field-mapping/dto/field-mapping-response.dto';
export { SecretDecryptionError } from './crypto/secret-cipher';
export { EXPENSE_CLAIM_SOURCE_FIELDS } from './integration-types/built-in-types';
export { compileMappings, coverage, type CompiledMapping, type MappingSpec } from './export';
