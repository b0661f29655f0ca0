import { Module } from '@nestjs/common';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [IntegrationConfigModule],
  providers: [WebhooksService],
  exports: [WebhooksService],
})
export class WebhooksModule {}
