import { Inject, Injectable, Optional } from '@nestjs/common';
import { BUILT_IN_INTEGRATION_TYPES } from './built-in-types';
import type { IntegrationTypeDefinition } from './integration-type';

/** More integration types, provided by a service that imports the module. */
export const EXTRA_INTEGRATION_TYPES = Symbol('EXTRA_INTEGRATION_TYPES');

const TYPE_NAME_PATTERN = /^[a-z][a-z0-9_]{1,62}$/;

/**
 * The integration types this service knows: the built-in ones and any an importing service
 * registers. Read-only once the application has started.
 */
@Injectable()
export class IntegrationTypeRegistry {
  private readonly types = new Map<string, IntegrationTypeDefinition>();

  constructor(@Optional() @Inject(EXTRA_INTEGRATION_TYPES) extra: IntegrationTypeDefinition[] | null = null) {
    for (const definition of [...BUILT_IN_INTEGRATION_TYPES, ...(extra ?? [])]) this.register(definition);
  }

  private register(definition: IntegrationTypeDefinition): void {
    if (!TYPE_NAME_PATTERN.test(definition.integration_type)) {
      throw new Error(`integration type "${definition.integration_type}" must be snake_case`);
    }
    if (this.types.has(definition.integration_type)) {
      throw new Error(`integration type "${definition.integration_type}" is registered twice`);
    }
    this.types.set(definition.integration_type, Object.freeze({ ...definition }));
  }

  has(type: string): boolean {
    return this.types.has(type);
  }

  /** The definition of a type known to exist (configs only hold registered types). */
  get(type: string): IntegrationTypeDefinition {
    const definition = this.types.get(type);
    if (!definition) throw new Error(`unknown integration type "${type}"`);
    return definition;
  }

  list(): IntegrationTypeDefinition[] {
    return [...this.types.values()];
  }

  names(): string[] {
    return [...this.types.keys()];
  }
}
