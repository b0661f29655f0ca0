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
  const outcome = async (pipe: typeof VALIDATION_PIPE | typeof SHALLOW_BODY_VALIDATION_PIPE, body: unknown) => {
    try {
      const value = (await pipe.transform(structuredClone(body), metadata)) as object;
      return { accepted: { ...value }, type: value.constructor.name };
    } catch (error) {
      if (!(error instanceof RuleViolation)) throw error;
      return { refused: error.status, rule: error.rule, errors: error.errors };
    }
  };
  const bodies: [string, unknown][] = [
    ['no body', undefined],
    ['an empty object', {}],
    ['records', { records: [{ claim_id: 'c1', expense_amount: 1.5, expense_line: { km_distance: 4 } }, {}] }],
    ['no records', { records: [] }],
    ['records that are not objects', { records: [{ a: 1 }, 2, 'x', null, [1]] }],
    ['records that are not an array', { records: { a: 1 } }],
    ['records null', { records: null }],
    ['too many records', { records: Array.from({ length: 10_001 }, () => ({})) }],
    ['an unknown field', { records: [], dry_run: true }],
    ['only unknown fields', { a: 1, b: 2 }],
    ['a JSON array', [{ records: [] }]],
    ['an empty JSON array', []],
  ];

  it.each(bodies)('judges %s as ValidationPipe does', async (_name, body) => {
    const full = await outcome(VALIDATION_PIPE, body);
    const shallow = await outcome(SHALLOW_BODY_VALIDATION_PIPE, body);
    expect(shallow).toEqual(full);
  });

  it('drops prototype keys at the top level as ValidationPipe does, without touching a prototype', async () => {
    const body = JSON.parse('{"records": [], "__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "prototype": 1}') as object;
    const shallow = await outcome(SHALLOW_BODY_VALIDATION_PIPE, body);
    expect(shallow).toEqual(await outcome(VALIDATION_PIPE, body));
    expect(shallow).toEqual({ accepted: { records: [] }, type: 'ExportRequestDto' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(await SHALLOW_BODY_VALIDATION_PIPE.transform(body, metadata))).toBe(ExportRequestDto.prototype);
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

