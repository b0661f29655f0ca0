import { Module } from '@nestjs/common';
import { AlertsController } from './alerts.controller';
import { AlertsModule } from './alerts.module';

/** The alert endpoint routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [AlertsModule],
  controllers: [AlertsController],
})
export class AlertsHttpModule {}
