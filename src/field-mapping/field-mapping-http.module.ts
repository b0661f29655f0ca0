import { Module } from '@nestjs/common';
import { FieldMappingController } from './field-mapping.controller';
import { FieldMappingModule } from './field-mapping.module';

/** The field-mapping routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [FieldMappingModule],
  controllers: [FieldMappingController],
})
export class FieldMappingHttpModule {}
