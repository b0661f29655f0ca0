import { Module } from '@nestjs/common';
import { JobQueueModule } from '../job-queue/job-queue.module';
import { RetentionRepository } from './retention.repository';
import { RetentionService } from './retention.service';

/** The scheduled pruning of stored webhook events, sync runs, export runs and (when configured) audit events. */
@Module({
  imports: [JobQueueModule],
  providers: [RetentionService, RetentionRepository],
  exports: [RetentionService],
})
export class RetentionModule {}
