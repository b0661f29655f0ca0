import { Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { countingOutbound, OutboundClient, type Outbound } from '../egress/outbound-http';
import type { Connector } from '../sync/connector';
import { DynamicsConnector } from './dynamics/dynamics.connector';
import { XledgerConnector } from './xledger/xledger.connector';

/** The service's own connectors (Xledger, Dynamics 365, the HLF portal); a host's connector for the same type replaces one. */
export const BUILT_IN_CONNECTORS = Symbol('BUILT_IN_CONNECTORS');

const vendorRequests: Record<string, number> = {};

/** Requests sent to each integration type's external system since the process started (with rows delivered: requests per row). */
export function vendorRequestCounts(): Record<string, number> {
  return { ...vendorRequests };
}

/** The instance's client, counting the requests sent for one integration type (token requests included). */
function countedFor(type: string, client: Outbound): Outbound {
  vendorRequests[type] ??= 0;
  return countingOutbound(client, () => void (vendorRequests[type] += 1));
}

/** The one outbound client of the instance: its keep-alive connections closed with the application. */
@Injectable()
export class Egress implements OnApplicationShutdown {
  private readonly logger = new Logger('Egress');
  readonly client: OutboundClient;

  constructor(config: AppConfig) {
    this.client = new OutboundClient({
      policy: { allowPrivate: config.egressAllowPrivate },
      // Audited: a config pointing at an internal address is worth an operator's look.
      onRefused: (refusal) => this.logger.warn({ event: 'egress_refused', rule: refusal.rule, host: refusal.host, address: refusal.address }),
    });
  }

  onApplicationShutdown(): void {
    this.client.close();
  }
}

@Module({
  providers: [
    Egress,
    {
      provide: BUILT_IN_CONNECTORS,
      inject: [Egress, AppConfig],
      useFactory: (egress: Egress, config: AppConfig): Connector[] => [
        new XledgerConnector(countedFor('xledger', egress.client)),
        new DynamicsConnector('dynamics', countedFor('dynamics', egress.client), { authorityUrl: config.dynamicsAuthorityUrl }),
        new DynamicsConnector('hlf_portal', countedFor('hlf_portal', egress.client), { authorityUrl: config.dynamicsAuthorityUrl }),
      ],
    },
  ],
  exports: [BUILT_IN_CONNECTORS, Egress],
})
export class ConnectorsModule {}
