import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RepositoriesModule } from '../repositories.module';
import { ConnectorRegistryModule } from '../sync/connector-registry.module';
import { FieldMappingService } from './field-mapping.service';

@Module({
  imports: [RepositoriesModule, AuditModule, ConnectorRegistryModule],
  providers: [FieldMappingService],
  exports: [FieldMappingService],
})
export class FieldMappingModule {}
