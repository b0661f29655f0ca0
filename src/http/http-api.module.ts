import { Module } from '@nestjs/common';
import { AlertsHttpModule } from '../alerts/alerts-http.module';
import { AuditHttpModule } from '../audit/audit-http.module';
import { AuthModule } from '../auth/auth.module';
import { ExportRunHttpModule } from '../export-runs/export-run-http.module';
import { FieldMappingHttpModule } from '../field-mapping/field-mapping-http.module';
import { IntegrationConfigHttpModule } from '../integration-config/integration-config-http.module';
import { IntegrationTypesHttpModule } from '../integration-types/integration-types-http.module';
import { SyncHttpModule } from '../sync/sync-http.module';
import { WebhooksHttpModule } from '../webhooks/webhooks-http.module';
import { HostGlobalsCheck } from './host-globals';

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
  // A host's global pipes and late global filters would change the API's answers: refused at start.
  providers: [HostGlobalsCheck],
  exports: [AuthModule],
})
export class HttpApiModule {}
