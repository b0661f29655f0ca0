import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { IntegrationConfigController } from './integration-config.controller';
import { IntegrationConfigModule } from './integration-config.module';

/** The config routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [IntegrationConfigModule, IdempotencyModule],
  controllers: [IntegrationConfigController],
})
export class IntegrationConfigHttpModule {}
