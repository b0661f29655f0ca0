import { DynamicModule, Global, Module, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { useContainer } from 'class-validator';
import { isInjectable } from '../common/nest-internals';
import type { IntegrationTypeDefinition } from './integration-type';
import { EXTRA_INTEGRATION_TYPES, IntegrationTypeRegistry } from './integration-type.registry';
import { IntegrationTypesSync } from './integration-types.sync';
import { KnownIntegrationTypeConstraint } from './known-integration-type.validator';

/** The registry, for every module (validation, field mappings, exports). */
@Global()
@Module({})
export class IntegrationTypesModule implements OnModuleInit {
  constructor(private readonly moduleRef: ModuleRef) {}

  /**
   * Constraints that need providers (the type registry) are @Injectable and come from Nest's
   * container; plain constraint classes, and a host's injectable one this container cannot give,
   * are built by class-validator itself (its container is process-wide). Here, not with the REST
   * API: a host without it validates with validateDto.
   */
  onModuleInit(): void {
    const get = (type: object) => {
      if (!isInjectable(type)) return undefined;
      try {
        return this.moduleRef.get(type as Type, { strict: false });
      } catch {
        return undefined;
      }
    };
    useContainer({ get }, { fallback: true });
  }

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
