import { Module } from '@nestjs/common';
import { AuditEventRepository } from './audit-event.repository';
import { AuditService } from './audit.service';

/** The audit trail: every feature that changes data records through AuditService in its own transaction. */
@Module({
  providers: [AuditService, AuditEventRepository],
  exports: [AuditService],
})
export class AuditModule {}
