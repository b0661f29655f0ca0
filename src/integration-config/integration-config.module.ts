import { Module } from '@nestjs/common';
import { IntegrationConfigService } from './integration-config.service';

@Module({
  providers: [IntegrationConfigService],
  exports: [IntegrationConfigService],
})
export class IntegrationConfigModule {}
