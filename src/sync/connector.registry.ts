import { Inject, Injectable, Optional } from '@nestjs/common';
import { BUILT_IN_CONNECTORS } from '../connectors/connectors.module';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import type { Connector } from './connector';

/** The connectors given to IntegrationsModule.forRoot({ connectors }). */
export const CONNECTORS = Symbol('CONNECTORS');

/** One connector per registered integration type that can be delivered to: the host's, else the service's own. */
@Injectable()
export class ConnectorRegistry {
  private readonly byType = new Map<string, Connector>();

  constructor(types: IntegrationTypeRegistry, @Optional() @Inject(CONNECTORS) connectors: Connector[] = [], @Optional() @Inject(BUILT_IN_CONNECTORS) builtIn: Connector[] = []) {
    for (const connector of connectors) {
      // A connector for a type nobody registered would never be used: refuse it at start-up.
      if (!types.has(connector.integrationType)) {
        throw new Error(`a connector for integration type "${connector.integrationType}", which is not registered: add its definition to integrationTypes`);
      }
      if (this.byType.has(connector.integrationType)) throw new Error(`two connectors for integration type ${connector.integrationType}`);
      this.byType.set(connector.integrationType, connector);
    }
    for (const connector of builtIn) if (!this.byType.has(connector.integrationType)) this.byType.set(connector.integrationType, connector);
  }

  find(integrationType: string): Connector | undefined {
    return this.byType.get(integrationType);
  }
}
