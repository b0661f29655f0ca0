import { Global, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import { AuthModule } from '../auth/auth.module';
import { TokenVerifier } from '../auth/token-verifier';
import { tokenCacheLookups } from '../connectors/dynamics/token-cache';
import { MEANDER_DATA_SOURCE } from '../database/database.module';
import { readJobQueuesWithin } from './job-queues';
import { observeHttpRequests } from './http-metrics';
import { MetricsController } from './metrics.controller';
import { DeliveryMetrics } from './delivery-metrics';
import { ServiceMetrics } from './service-metrics';
import { vendorRequestCounts } from '../connectors/connectors.module';

/** A scrape waits this long for the queues' numbers, then reports them unknown (NaN). */
const QUEUE_READ_TIMEOUT_MS = 2_000;

/**
 * GET /metrics and what it counts, in the HTTP service (AppModule). Global so that the delivery
 * engine finds its recorder (DeliveryMetrics) without importing this module; where it is absent
 * (a host application), the engine records nothing.
 */
@Global()
@Module({
  imports: [AuthModule],
  controllers: [MetricsController],
  providers: [
    {
      provide: ServiceMetrics,
      inject: [getDataSourceToken(MEANDER_DATA_SOURCE), TokenVerifier],
      useFactory: (dataSource: DataSource, verifier: TokenVerifier) =>
        new ServiceMetrics({
          queues: () => readJobQueuesWithin(dataSource, QUEUE_READ_TIMEOUT_MS, logUnreadable),
          // The Dynamics 365 / HLF portal access tokens (the process's); the bearer tokens' verdicts (this application's).
          cacheLookups: () => ({ dynamics: tokenCacheLookups(), auth: { ...verifier.verdictLookups } }),
          cacheEntries: () => ({ auth: verifier.rememberedVerdicts }),
          vendorRequests: vendorRequestCounts,
        }),
    },
    { provide: DeliveryMetrics, useExisting: ServiceMetrics },
  ],
  exports: [DeliveryMetrics],
})
export class MetricsModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: ServiceMetrics,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    // The service runs on Fastify (app.factory.ts); nothing is counted on another adapter.
    if (adapter?.getType() === 'fastify') observeHttpRequests(adapter.getInstance<FastifyInstance>(), this.metrics);
  }
}

const logger = new Logger('Metrics');

// The scrape still answers when the queues cannot be read (HTTP and process metrics matter most during an outage).
const logUnreadable = (error: unknown) => logger.warn({ event: 'metrics_queue_unreadable', err: { name: (error as Error)?.name, code: (error as { code?: string })?.code } });
