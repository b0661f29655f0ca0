import { Module } from '@nestjs/common';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { FieldMappingService } from './field-mapping.service';

@Module({
  imports: [IntegrationConfigModule],
  providers: [FieldMappingService],
  exports: [FieldMappingService],
})
export class FieldMappingModule {}
