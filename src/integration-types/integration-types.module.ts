import { DynamicModule, Global, Module } from '@nestjs/common';
import type { IntegrationTypeDefinition } from './integration-type';
import { EXTRA_INTEGRATION_TYPES, IntegrationTypeRegistry } from './integration-type.registry';
import { IntegrationTypesSync } from './integration-types.sync';
import { KnownIntegrationTypeConstraint } from './known-integration-type.validator';

/** The registry, for every module (validation, field mappings, exports). */
@Global()
@Module({})
export class IntegrationTypesModule {
  /** `extraTypes`: more integration types, registered by a service that imports the module. */
  static forRoot(extraTypes?: IntegrationTypeDefinition[]): DynamicModule {
    return {
      module: IntegrationTypesModule,
      providers: [
        ...(extraTypes ? [{ provide: EXTRA_INTEGRATION_TYPES, useValue: extraTypes }] : []),
        IntegrationTypeRegistry,
        IntegrationTypesSync,
        KnownIntegrationTypeConstraint,
      ],
      exports: [IntegrationTypeRegistry],
    };
  }
}
