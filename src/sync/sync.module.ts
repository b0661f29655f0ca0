import { Module } from '@nestjs/common';
import { AlertsModule } from '../alerts/alerts.module';
import { AuditModule } from '../audit/audit.module';
import { ExportRunModule } from '../export-runs/export-run.module';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { JobQueueModule } from '../job-queue/job-queue.module';
import { RepositoriesModule } from '../repositories.module';
import { ConnectorRegistryModule } from './connector-registry.module';
import { DeliveryLocks } from './delivery-lock';
import { ConnectionTestService } from './connection-test.service';
import { DeliveryService } from './delivery.service';
import { SyncService } from './sync.service';

@Module({
  imports: [ConnectorRegistryModule, RepositoriesModule, IntegrationConfigModule, ExportRunModule, JobQueueModule, AuditModule, AlertsModule],
  providers: [SyncService, DeliveryService, ConnectionTestService, DeliveryLocks],
  exports: [SyncService, DeliveryService, ConnectionTestService],
})
export class SyncModule {}
