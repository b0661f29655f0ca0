import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../repositories.module';
import { FieldMappingService } from './field-mapping.service';

@Module({
  imports: [RepositoriesModule],
  providers: [FieldMappingService],
  exports: [FieldMappingService],
})
export class FieldMappingModule {}
