import { Module } from '@nestjs/common';
import { InboundWebhooksController, WebhookEventsController } from './webhooks.controller';
import { WebhooksModule } from './webhooks.module';

/** The inbound webhook and event routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [WebhooksModule],
  controllers: [InboundWebhooksController, WebhookEventsController],
})
export class WebhooksHttpModule {}
