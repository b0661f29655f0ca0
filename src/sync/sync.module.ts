import { Module } from '@nestjs/common';
import { ExportRunModule } from '../export-runs/export-run.module';
import { IntegrationConfigModule } from '../integration-config/integration-config.module';
import { RepositoriesModule } from '../repositories.module';
import { SyncService } from './sync.service';

@Module({
  imports: [RepositoriesModule, IntegrationConfigModule, ExportRunModule],
  providers: [SyncService],
  exports: [SyncService],
})
export class SyncModule {}
