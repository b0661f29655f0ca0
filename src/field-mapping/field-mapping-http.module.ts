import { Module } from '@nestjs/common';
import { FieldMappingController } from './field-mapping.controller';
import { FieldMappingModule } from './field-mapping.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';

/** The field-mapping routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [FieldMappingModule, IdempotencyModule],
  controllers: [FieldMappingController],
})
export class FieldMappingHttpModule {}
