import type { TransactionRunner } from '../database/transaction';
import { inBatches } from './secret-rotation';

describe('keys:rotate batches (inBatches)', () => {
  afterEach(() => jest.restoreAllMocks());

  /**
   * A run whose batches take `script`'s rows in turn (0: every row left is locked), then nothing, on a
   * clock each batch moves on by `msPerBatch`; `neverTaken` rows stay locked throughout.
   */
  function scripted(script: number[], msPerBatch: number, neverTaken = 0) {
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    let left = script.reduce((sum, rows) => sum + rows, neverTaken);
    const transactions = {
      run: async <T>(work: (tx: never) => Promise<T>) => {
        now += msPerBatch;
        return work(undefined as never);
      },
    } as unknown as TransactionRunner;
    const batch = async () => {
      const rows = script.shift() ?? 0;
      left -= rows;
      return { rows, rowsChanged: rows, values: rows };
    };
    return { transactions, batch, left: async () => left };
  }

  it('waits up to 30 s for locked rows from the first batch that took nothing, however long the run has been going', async () => {
    // A row a write holds for 20 s (two empty batches 10 s apart), an hour of batches, then another such row.
    const run = scripted([0, 0, ...Array.from({ length: 360 }, () => 1), 0, 0, 1], 10_000);
    const counted = jest.fn();
    await inBatches(run.transactions, run.batch, run.left, counted);
    expect(counted).toHaveBeenCalledTimes(361);
  });

  it('gives up once rows stay locked for 30 s, saying to run it again', async () => {
    const run = scripted([1], 11_000, 1);
    await expect(inBatches(run.transactions, run.batch, run.left, () => undefined)).rejects.toThrow('1 row(s) stayed locked by other transactions for 30 s: run keys:rotate again');
  });
});
