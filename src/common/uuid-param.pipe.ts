import { Injectable, type PipeTransform } from '@nestjs/common';
import { UUID_PATTERN } from '../auth/principal';
import { RuleViolation } from './rule-violation';

/** A resource id in the path: one that is not a UUID cannot exist, so it is a 404, not a 500. */
@Injectable()
export class ParseResourceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw RuleViolation.notFound('Resource');
    return value.toLowerCase();
  }
}
