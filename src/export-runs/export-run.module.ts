import { Module } from '@nestjs/common';
import { FieldMappingModule } from '../field-mapping/field-mapping.module';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { ExportRunService } from './export-run.service';

@Module({
  imports: [IntegrationConfigModule, FieldMappingModule],
  providers: [ExportRunService],
  exports: [ExportRunService],
})
export class ExportRunModule {}
