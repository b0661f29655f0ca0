import { Module, type OnModuleInit } from '@nestjs/common';
import { INJECTABLE_WATERMARK } from '@nestjs/common/constants';
import { ModuleRef } from '@nestjs/core';
import { useContainer } from 'class-validator';
import { AuthModule } from '../auth/auth.module';
import { ExportRunController } from '../export-runs/export-run.controller';
import { ExportRunModule } from '../export-runs/export-run.module';
import { FieldMappingController } from '../field-mapping/field-mapping.controller';
import { FieldMappingModule } from '../field-mapping/field-mapping.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { IntegrationConfigController } from '../integration-config/integration-config.controller';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { IntegrationTypesController } from '../integration-types/integration-types.controller';
import { InboundWebhooksController, WebhookEventsController } from '../webhooks/webhooks.controller';
import { WebhooksModule } from '../webhooks/webhooks.module';

/**
 * The REST API over the feature services. Separate from them so that an internal service can
 * import the services without any route (IntegrationsModule.forRoot({ http: false })).
 */
@Module({
  imports: [AuthModule, IdempotencyModule, IntegrationConfigModule, FieldMappingModule, ExportRunModule, WebhooksModule],
  controllers: [IntegrationTypesController, IntegrationConfigController, FieldMappingController, ExportRunController, InboundWebhooksController, WebhookEventsController],
  exports: [AuthModule],
})
export class HttpApiModule implements OnModuleInit {
  constructor(private readonly moduleRef: ModuleRef) {}

  /**
   * Constraints that need providers (the type registry) are @Injectable and come from Nest's
   * container; plain constraint classes are built by class-validator itself.
   */
  onModuleInit(): void {
    const get = (type: object) => (Reflect.getMetadata(INJECTABLE_WATERMARK, type) ? this.moduleRef.get(type as never, { strict: false }) : undefined);
    useContainer({ get }, { fallback: true });
  }
}
