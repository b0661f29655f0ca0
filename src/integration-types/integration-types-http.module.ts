import { Module } from '@nestjs/common';
import { IntegrationTypesController } from './integration-types.controller';

/** The registry's route: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  controllers: [IntegrationTypesController],
})
export class IntegrationTypesHttpModule {}
