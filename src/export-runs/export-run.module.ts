import { Module } from '@nestjs/common';
import { FieldMappingModule } from '../field-mapping/field-mapping.module';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { ExportRunService } from './export-run.service';
import { MappingPool } from './mapping-pool';

@Module({
  imports: [IntegrationConfigModule, FieldMappingModule],
  providers: [ExportRunService, MappingPool],
  exports: [ExportRunService],
})
export class ExportRunModule {}
