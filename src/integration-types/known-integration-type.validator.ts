import { Injectable } from '@nestjs/common';
import { Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { IntegrationTypeRegistry } from './integration-type.registry';

/** Resolved from Nest's container (class-validator `useContainer`), so registered types count. */
@ValidatorConstraint({ name: 'isKnownIntegrationType' })
@Injectable()
export class KnownIntegrationTypeConstraint implements ValidatorConstraintInterface {
  constructor(private readonly registry: IntegrationTypeRegistry) {}

  validate(value: unknown): boolean {
    return typeof value === 'string' && this.registry.has(value);
  }

  defaultMessage(): string {
    return `integration_type must be one of: ${this.registry.names().join(', ')}`;
  }
}

export const IsKnownIntegrationType = () => Validate(KnownIntegrationTypeConstraint, { context: { rule: 'integration_type_must_be_known_value' } });
