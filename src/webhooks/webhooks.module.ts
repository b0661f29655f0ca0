import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../repositories.module';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [RepositoriesModule],
  providers: [WebhooksService],
  exports: [WebhooksService],
})
export class WebhooksModule {}
