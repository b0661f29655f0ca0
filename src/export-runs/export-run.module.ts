import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { FieldMappingModule } from '../field-mapping/field-mapping.module';
import { JobQueueModule } from '../job-queue/job-queue.module';
import { RepositoriesModule } from '../repositories.module';
import { ConnectorRegistryModule } from '../sync/connector-registry.module';
import { ExportRunService } from './export-run.service';
import { MappingPool } from './mapping-pool';

@Module({
  imports: [RepositoriesModule, FieldMappingModule, JobQueueModule, AuditModule, ConnectorRegistryModule],
  providers: [ExportRunService, MappingPool],
  exports: [ExportRunService],
})
export class ExportRunModule {}
