import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { JobQueueModule } from '../job-queue/job-queue.module';
import { RepositoriesModule } from '../repositories.module';
import { AlertEndpointRepository } from './alert-endpoint.repository';
import { AlertsService } from './alerts.service';

@Module({
  imports: [RepositoriesModule, AuditModule, JobQueueModule, ConnectorsModule],
  providers: [AlertsService, AlertEndpointRepository],
  exports: [AlertsService],
})
export class AlertsModule {}
