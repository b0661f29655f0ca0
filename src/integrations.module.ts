import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuditModule } from './audit/audit.module';
import { AuthGuard } from './auth/auth.guard';
import { ProblemFilter } from './http/problem.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule, type ConfigModuleAsyncOptions } from './config/config.module';
import { CryptoModule } from './crypto/crypto.module';
import { DatabaseModule } from './database/database.module';
import { ExportRunModule } from './export-runs/export-run.module';
import { FieldMappingModule } from './field-mapping/field-mapping.module';
import { HttpApiModule } from './http/http-api.module';
import { RateLimitGuard, RateLimits } from './http/rate-limit.guard';
import { IntegrationConfigModule } from './integration-config/integration-config.module';
import type { IntegrationTypeDefinition } from './integration-types/integration-type';
import { IntegrationTypesModule } from './integration-types/integration-types.module';
import { OrgScopeGuard } from './org-scope/org-scope.guard';
import { RetentionModule } from './retention/retention.module';
import type { Connector } from './sync/connector';
import { CONNECTORS } from './sync/connector.registry';
import { SyncModule } from './sync/sync.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export interface IntegrationsModuleOptions {
  /**
   * Also serve the REST API (controllers, plus the global deny-by-default guards and the
   * problem+json filter, which then apply to the host's own routes too: `Public()` and `Roles()`
   * open them). The application then refuses to start with global pipes, or a global filter
   * registered after the module's (docs/module.md). Default: true.
   */
  http?: boolean;
  /** More integration types for the registry. */
  integrationTypes?: IntegrationTypeDefinition[];
  /** Connectors that deliver rows for registered integration types (src/sync/connector.ts). */
  connectors?: Connector[];
}

/**
 * The integrations service as a module: `IntegrationsModule.forRoot({ config })` in a host
 * Nest app gives it IntegrationConfigService, FieldMappingService, ExportRunService,
 * WebhooksService and SyncService, on its own TypeORM data source (DATABASE_URL of the config).
 */
@Module({})
export class IntegrationsModule {
  static forRoot(options: IntegrationsModuleOptions & { config: AppConfig }): DynamicModule {
    return IntegrationsModule.compose(ConfigModule.forRoot(options.config), options);
  }

  static forRootAsync(options: IntegrationsModuleOptions & ConfigModuleAsyncOptions): DynamicModule {
    return IntegrationsModule.compose(ConfigModule.forRootAsync(options), options);
  }

  private static compose(config: DynamicModule, options: IntegrationsModuleOptions): DynamicModule {
    const http = options.http ?? true;
    const services = [IntegrationConfigModule, FieldMappingModule, ExportRunModule, WebhooksModule, SyncModule, AuditModule];
    return {
      module: IntegrationsModule,
      global: true,
      imports: [config, DatabaseModule, CryptoModule, IntegrationTypesModule.forRoot(options.integrationTypes), ...services, RetentionModule, ...(http ? [HttpApiModule] : [])],
      providers: [
        { provide: CONNECTORS, useValue: options.connectors ?? [] },
        ...(http
          ? [
              // Order matters: the token is verified before the organization is checked against it,
              // and a write is counted against its token only once the token is known to be valid.
              { provide: APP_GUARD, useClass: AuthGuard },
              { provide: APP_GUARD, useClass: OrgScopeGuard },
              { provide: APP_GUARD, useClass: RateLimitGuard },
              // The guard's budgets, shared with limitBeforeBody (app.factory.ts), which takes most of them first.
              RateLimits,
              { provide: APP_FILTER, useClass: ProblemFilter },
              // No global pipe: bodies and queries are validated where they are declared (ValidBody,
              // ValidQuery), so the host's own routes keep their own validation. A host's global pipes
              // would run before them, and are refused at start (src/http/host-globals.ts).
            ]
          : []),
      ],
      exports: [...services, CryptoModule, CONNECTORS],
    };
  }
}
