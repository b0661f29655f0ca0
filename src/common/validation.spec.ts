import 'reflect-metadata';
import type { ArgumentMetadata } from '@nestjs/common';
import { BulkCreateFieldMappingsDto } from '../field-mapping/dto/field-mapping-request.dto';
import { ExportRequestDto } from '../export-runs/dto/export.dto';
import { RuleViolation } from './rule-violation';
import { SHALLOW_BODY_VALIDATION_PIPE, VALIDATION_PIPE } from './validation';

// The shallow pipe of export bodies must judge every body exactly as the full ValidationPipe
// does: same refusals (rules, fields, messages), same accepted value; only without the copy.
describe('ShallowBodyValidationPipe', () => {
  const metadata: ArgumentMetadata = { type: 'body', metatype: ExportRequestDto, data: undefined };
  // Each pipe gets its own copy, parsed here as the body parser would (ValidationPipe mutates its
  // input; structuredClone would build the objects in another realm, which isPlainObject refuses).
  const outcome = async (pipe: typeof VALIDATION_PIPE | typeof SHALLOW_BODY_VALIDATION_PIPE, json: string | undefined) => {
    try {
      const value = (await pipe.transform(json === undefined ? undefined : JSON.parse(json), metadata)) as object;
      return { accepted: { ...value }, type: value.constructor.name };
    } catch (error) {
      if (!(error instanceof RuleViolation)) throw error;
      return { refused: error.status, rule: error.rule, errors: error.errors };
    }
  };
  const bodies: [string, string | undefined, 'accepted' | 'refused'][] = [
    ['no body', undefined, 'refused'],
    ['an empty object', '{}', 'refused'],
    ['records', JSON.stringify({ records: [{ claim_id: 'c1', expense_amount: 1.5, expense_line: { km_distance: 4 } }, {}] }), 'accepted'],
    ['no records', '{"records":[]}', 'accepted'],
    ['records that are not objects', JSON.stringify({ records: [{ a: 1 }, 2, 'x', null, [1]] }), 'refused'],
    ['records that are not an array', '{"records":{"a":1}}', 'refused'],
    ['records null', '{"records":null}', 'refused'],
    ['too many records', JSON.stringify({ records: Array.from({ length: 10_001 }, () => ({})) }), 'refused'],
    ['an unknown field', '{"records":[],"dry_run":true}', 'refused'],
    ['only unknown fields', '{"a":1,"b":2}', 'refused'],
    ['a JSON array', '[{"records":[]}]', 'refused'],
    ['an empty JSON array', '[]', 'refused'],
    [
      'prototype keys inside records',
      '{"records":[{"__proto__":{"x":1},"constructor":"c","claim_id":"c1","expense_line":{"__proto__":{},"prototype":[{"constructor":1}],"km":2}}]}',
      'accepted',
    ],
  ];

  it.each(bodies)('judges %s as ValidationPipe does', async (_name, json, verdict) => {
    const full = await outcome(VALIDATION_PIPE, json);
    const shallow = await outcome(SHALLOW_BODY_VALIDATION_PIPE, json);
    expect(Object.keys(full)[0]).toBe(verdict);
    expect(shallow).toEqual(full);
    // toEqual overlooks some own keys (`__proto__`, `constructor`): the JSON the service would send must match too.
    expect(JSON.stringify(shallow)).toBe(JSON.stringify(full));
  });

  it('drops prototype keys at the top level as ValidationPipe does, without touching a prototype', async () => {
    const json = '{"records": [], "__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "prototype": 1}';
    const shallow = await outcome(SHALLOW_BODY_VALIDATION_PIPE, json);
    expect(shallow).toEqual(await outcome(VALIDATION_PIPE, json));
    expect(shallow).toEqual({ accepted: { records: [] }, type: 'ExportRequestDto' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(await SHALLOW_BODY_VALIDATION_PIPE.transform(JSON.parse(json), metadata))).toBe(ExportRequestDto.prototype);
  });

  it('passes the records through as they came, not a copy', async () => {
    const records = [{ claim_id: 'c1', nested: { deep: [1, 2] } }];
    const dto = (await SHALLOW_BODY_VALIDATION_PIPE.transform({ records }, metadata)) as ExportRequestDto;
    expect(dto).toBeInstanceOf(ExportRequestDto);
    expect(dto.records).toBe(records);
  });

  it('is refused for a DTO with nested validation, whose nested objects would need instances', async () => {
    await expect(SHALLOW_BODY_VALIDATION_PIPE.transform({ items: [] }, { type: 'body', metatype: BulkCreateFieldMappingsDto })).rejects.toThrow(/without nested validation/);
  });
});
