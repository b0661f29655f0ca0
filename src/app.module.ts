import { DynamicModule, Module, type Type } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { AppConfig } from './config/app-config';
import { HealthModule } from './health/health.module';
import { IntegrationsModule } from './integrations.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import type { Connector } from './sync/connector';

export interface AppModuleOptions {
  config: AppConfig;
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
  /** More modules to compose in (test probes). */
  extraImports?: (Type | DynamicModule)[];
  /** Delivery connectors (src/sync/connector.ts); the vendors' own come with the service. */
  connectors?: Connector[];
}

/** The composition root of the HTTP service. */
@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggingModule.forRoot({ stream: options.logStream }),
        IntegrationsModule.forRoot({ config: options.config, http: true, connectors: options.connectors }),
        HealthModule,
        MetricsModule,
        ...(options.extraImports ?? []),
      ],
    };
  }
}
