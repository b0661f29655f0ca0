import { RuleViolation } from '../common/rule-violation';
import type { AppConfig } from '../config/app-config';
import { mappingSpec, type MappingTask } from '../export';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../integration-types/built-in-types';
import { INLINE_FORMULA_WORK, INLINE_RECORDS, MappingPool } from './mapping-pool';

jest.setTimeout(60_000);

/** A batch large enough for a worker, its records marked with `tag`. */
function batch(tag: string): MappingTask {
  return {
    specs: [mappingSpec('m1', 0, 'description', 'Text')],
    context: { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: null },
    records: Array.from({ length: INLINE_RECORDS }, () => ({ description: tag })),
  };
}

describe('MappingPool: the workers shared fairly between organizations', () => {
  let pool: MappingPool;
  beforeAll(() => (pool = new MappingPool({ mappingWorkers: 1 } as AppConfig)));
  afterAll(() => pool.onApplicationShutdown());

  it("takes organizations' batches in turn, not first come: one that sends many waits behind its own", async () => {
    const done: string[] = [];
    const send = (orgId: string, tag: string) =>
      pool.run(orgId, batch(tag)).then((outcome) => {
        expect(outcome.ok && outcome.result.rows[0].output).toEqual({ Text: tag });
        done.push(tag);
      });
    // One worker: A1 runs, A2–A4 wait, then B1 and C1 arrive. Each worker freed goes to an organization it did not just serve.
    const sent = [send('A', 'A1'), send('A', 'A2'), send('A', 'A3'), send('A', 'A4'), send('B', 'B1'), send('C', 'C1')];
    await Promise.all(sent);
    expect(done).toEqual(['A1', 'B1', 'A2', 'C1', 'A3', 'A4']);
  });

  it("refuses an organization's batch beyond its share of the waiting room (503), and still takes another's", async () => {
    // One worker: a waiting room of 16, a quarter of its places (4 batches, running included) for each organization.
    const mine = [1, 2, 3, 4].map((i) => pool.run('A', batch(`A${i}`)));
    const refused = await pool.run('A', batch('A5')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RuleViolation);
    expect(refused).toMatchObject({ status: 503, rule: 'service_unavailable', retryAfterSeconds: 1 });
    expect((refused as RuleViolation).detail).toContain("this organization's");
    const other = await pool.run('B', batch('B1'));
    expect(other.ok).toBe(true);
    await Promise.all(mine);
    // The share is free again once its batches are done.
    expect((await pool.run('A', batch('A6'))).ok).toBe(true);
  });
});

describe('MappingPool: what is mapped on the event loop', () => {
  let pool: MappingPool;
  beforeAll(() => (pool = new MappingPool({ mappingWorkers: 1 } as AppConfig)));
  afterAll(() => pool.onApplicationShutdown());

  const context = { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: null };
  // A formula near the bounds: ~90 comparisons of two texts of 1,000 characters each.
  let expression = 'claim_id';
  while (`${expression} <= currency`.length <= 1000) expression += ' <= currency';
  const heavy = EXPENSE_CLAIM_SOURCE_FIELDS.map((f, i) => mappingSpec(`m${i}`, i, f.name, `T${i}`, { transform_type: 'computed', transform_config: { expression } }));
  const records = (n: number) => Array.from({ length: n }, () => ({ claim_id: 'a'.repeat(1000), currency: 'a'.repeat(1000) }));

  it('maps small batches of cheap mappings on the event loop, and a few records through heavy formulas in a worker (each record ~1 ms of them)', async () => {
    const before = pool.completedInWorkers;
    const cheap = await pool.run('A', { specs: [mappingSpec('m1', 0, 'currency', 'C')], context, records: records(INLINE_RECORDS - 1) });
    expect(cheap.ok).toBe(true);
    expect(pool.completedInWorkers).toBe(before);
    const perRecord = heavy.length * expression.length;
    const few = Math.ceil(INLINE_FORMULA_WORK / perRecord);
    expect(few).toBeLessThan(20);
    const outcome = await pool.run('A', { specs: heavy, context, records: records(few) });
    expect(outcome.ok && outcome.result.rows[0].output['T0']).toBe(true);
    expect(pool.completedInWorkers).toBe(before + 1);
    // Fewer stay on the event loop.
    expect((await pool.run('A', { specs: heavy, context, records: records(few - 1) })).ok).toBe(true);
    expect(pool.completedInWorkers).toBe(before + 1);
  });

  it('a batch that throws in a worker rejects that batch only: the pool goes on, and so does the process', async () => {
    const broken = pool.run('A', { specs: [null as unknown as MappingTask['specs'][number]], context, records: records(INLINE_RECORDS) });
    const next = pool.run('B', batch('B1'));
    await expect(broken).rejects.toThrow();
    expect(await next).toMatchObject({ ok: true });
    expect((await pool.run('A', batch('A1'))).ok).toBe(true);
  });
});
