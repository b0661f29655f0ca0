import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { FieldMappingModule } from '../field-mapping/field-mapping.module';
import { JobQueueModule } from '../job-queue/job-queue.module';
import { RepositoriesModule } from '../repositories.module';
import { IntegrationConfigService } from './integration-config.service';

// A config shows and writes its field mappings: this module uses the field-mapping one, never the other way.
@Module({
  imports: [RepositoriesModule, FieldMappingModule, JobQueueModule, AuditModule],
  providers: [IntegrationConfigService],
  exports: [IntegrationConfigService],
})
export class IntegrationConfigModule {}
