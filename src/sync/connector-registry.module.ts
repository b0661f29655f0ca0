import { Module } from '@nestjs/common';
import { ConnectorsModule } from '../connectors/connectors.module';
import { ConnectorRegistry } from './connector.registry';

/** The one ConnectorRegistry: delivery sends through it, previews and exports ask it what delivery would refuse. */
@Module({
  imports: [ConnectorsModule],
  providers: [ConnectorRegistry],
  exports: [ConnectorRegistry],
})
export class ConnectorRegistryModule {}
