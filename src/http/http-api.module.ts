import { Module, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { useContainer } from 'class-validator';
import { AlertsHttpModule } from '../alerts/alerts-http.module';
import { AuditHttpModule } from '../audit/audit-http.module';
import { AuthModule } from '../auth/auth.module';
import { isInjectable } from '../common/nest-internals';
import { ExportRunHttpModule } from '../export-runs/export-run-http.module';
import { FieldMappingHttpModule } from '../field-mapping/field-mapping-http.module';
import { IntegrationConfigHttpModule } from '../integration-config/integration-config-http.module';
import { IntegrationTypesHttpModule } from '../integration-types/integration-types-http.module';
import { SyncHttpModule } from '../sync/sync-http.module';
import { WebhooksHttpModule } from '../webhooks/webhooks-http.module';

/**
 * The REST API: each feature's routes come from its own `…-http.module`, composed here only when
 * IntegrationsModule serves HTTP, so a service importing it with `http: false` gets no route.
 */
@Module({
  imports: [
    AuthModule,
    IntegrationTypesHttpModule,
    IntegrationConfigHttpModule,
    FieldMappingHttpModule,
    ExportRunHttpModule,
    WebhooksHttpModule,
    SyncHttpModule,
    AuditHttpModule,
    AlertsHttpModule,
  ],
  exports: [AuthModule],
})
export class HttpApiModule implements OnModuleInit {
  constructor(private readonly moduleRef: ModuleRef) {}

  /**
   * Constraints that need providers (the type registry) are @Injectable and come from Nest's
   * container; plain constraint classes are built by class-validator itself.
   */
  onModuleInit(): void {
    const get = (type: object) => (isInjectable(type) ? this.moduleRef.get(type as Type, { strict: false }) : undefined);
    useContainer({ get }, { fallback: true });
  }
}
